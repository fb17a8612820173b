// TLS terminated in-process on a connection whose ClientHello the SNI front door already
// read, fed the bytes read so far, so no loopback hop to a second TLS listener is needed
// and the visitor's address stays the connection's own. On a Bun socket (the front door's
// connections) the handshake runs natively on the same socket: Bun's `upgradeTLS` with
// `isServer` and `initialData` (what node:tls itself uses to adopt a net.Socket server
// side), so records are encrypted and decrypted without a JS stream in between. Any other
// connection gets node:tls over a node Duplex (lib/net/node-duplex.ts).
import { TLSSocket, type SecureContext } from "node:tls";
import { BunSocketConnection, bunSocketHandlers, type ConnectionSlot, type DuplexConnection } from "../net/connection.ts";
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
): Promise<DuplexConnection | undefined> {
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
  if (conn instanceof BunSocketConnection) return upgradeNatively(conn, initial, ctx, opts);
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

/** ALPN protocol names in TLS wire format (each prefixed by its length), as node:tls passes them to Bun. */
function alpnWire(names: string[]): Buffer {
  return Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([Buffer.byteLength(n)]), Buffer.from(n)])));
}

/** The server-side handshake on the Bun socket itself; resolves with the plaintext side (a paused BunSocketConnection). */
function upgradeNatively(conn: BunSocketConnection, initial: Uint8Array, ctx: SecureContext, opts: TlsTerminationOptions): Promise<BunSocketConnection | undefined> {
  return new Promise((resolve) => {
    let plain: BunSocketConnection | undefined;
    let settled = false;
    const settle = (ok: boolean, reason?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ok && plain) return resolve(plain);
      opts.onError?.(reason ?? "TLS handshake failed");
      if (plain) plain.reset();
      else conn.socket.terminate();
      resolve(undefined);
    };
    const timer = setTimeout(() => settle(false, "TLS handshake timeout"), opts.handshakeTimeoutMs ?? 10_000);
    const handlers = bunSocketHandlers<ConnectionSlot>((c) => {
      plain = c;
      // The connection starts paused; the handshake needs the socket read. The first
      // application bytes are then held by the paused connection until its consumer resumes.
      c.socket.resume();
      // Until the handshake completed, the connection only reports how it ended.
      c.onclose = (err) => settle(false, err ? `TLS handshake failed: ${err.message}` : "closed during the TLS handshake");
    });
    const held = conn.detach();
    const first = held.length === 0 ? initial : Buffer.concat([initial, ...held]);
    try {
      const upgrade = conn.socket.upgradeTLS as (o: unknown) => unknown;
      upgrade.call(conn.socket, {
        isServer: true,
        initialData: first,
        data: {},
        // The native context of the node SecureContext, as node:tls hands it to Bun.
        tls: { secureContext: (ctx as unknown as { context: unknown }).context, requestCert: false, rejectUnauthorized: false, ALPNProtocols: alpnWire(opts.alpn ?? ["http/1.1"]) },
        socket: {
          ...handlers,
          // `success` is the handshake's; the peer is not asked for a certificate, so the verify error that comes with it means nothing here.
          handshake(_s: unknown, success: boolean) {
            if (!success) return settle(false, "TLS handshake failed");
            if (plain) plain.onclose = null;
            settle(true);
          },
        },
      });
    } catch (err) {
      settle(false, `TLS handshake failed: ${(err as Error).message}`);
    }
  });
}
