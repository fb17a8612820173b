// TLS terminated in-process on a connection whose ClientHello the SNI front door already
// read: node:tls runs over the held connection (lib/net/node-duplex.ts), fed the bytes
// read so far, so no loopback hop to a second TLS listener is needed and the visitor's
// address stays the connection's own. Bun's own TLS listeners cannot start a handshake on
// bytes already consumed (NOTES-stack "TLS").
import { TLSSocket, type SecureContext } from "node:tls";
import type { DuplexConnection } from "../net/connection.ts";
import { duplexOverConnection, StreamConnection } from "../net/node-duplex.ts";

/**
 * Chooses the certificate for a handshake (SNICallback-style, but asked once with the
 * name the ClientHello carried, before the handshake starts, so it may be asynchronous:
 * an on-demand order can plug in here). `null` is a ClientHello without SNI. Undefined:
 * no certificate, the connection is closed.
 */
export type CertificateSelector = (serverName: string | null) => SecureContext | undefined | Promise<SecureContext | undefined>;

export interface TlsTerminationOptions {
  selectCertificate: CertificateSelector;
  /** The rest of the handshake must finish within this time (slow-loris bound). */
  handshakeTimeoutMs?: number;
  /** ALPN protocols to offer (default: http/1.1 only; the routers speak HTTP/1.1). */
  alpn?: string[];
  onError?(reason: string): void;
}

/**
 * Terminates TLS on `conn` (paused, with `initial` = the bytes already read) and resolves
 * with the plaintext side, paused like a fresh socket, once the handshake completed;
 * undefined when it failed (the connection is closed then).
 */
export async function terminateTls(
  conn: DuplexConnection,
  serverName: string | null,
  initial: Uint8Array,
  opts: TlsTerminationOptions,
): Promise<StreamConnection | undefined> {
  let ctx: SecureContext | undefined;
  try {
    ctx = await opts.selectCertificate(serverName);
  } catch (err) {
    opts.onError?.(`certificate selection failed: ${(err as Error).message}`);
  }
  if (!ctx) {
    conn.reset();
    return undefined;
  }
  const raw = duplexOverConnection(conn, initial);
  const tls = new TLSSocket(raw as never, {
    isServer: true,
    secureContext: ctx,
    ALPNProtocols: opts.alpn ?? ["http/1.1"],
    allowHalfOpen: true,
  } as never);
  return new Promise((resolve) => {
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.onError?.(reason);
      tls.destroy();
      conn.reset();
      resolve(undefined);
    };
    const timer = setTimeout(() => fail("TLS handshake timeout"), opts.handshakeTimeoutMs ?? 10_000);
    tls.once("secure", () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(new StreamConnection(tls, { lower: raw }));
    });
    tls.once("error", (err: Error) => fail(`TLS handshake failed: ${err.message}`));
    tls.once("close", () => fail("closed during the TLS handshake"));
    conn.resume();
  });
}
