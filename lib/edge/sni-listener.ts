// The public HTTPS listener: a raw TCP listener that reads the TLS ClientHello's SNI
// without terminating, then hands the connection (paused, with the bytes read so far)
// to `onHello`, which terminates it locally or passes it through to a tunnel.
import type { Socket, TCPSocketListener } from "bun";
import { BunSocketConnection, bunSocketHandlers } from "../net/connection.ts";
import { createClientHelloReader, type ClientHelloReader } from "../tls/client-hello.ts";

export interface SniListenerOptions {
  hostname: string;
  port: number;
  /** A peer must finish its ClientHello within this time (slow-loris bound). */
  helloTimeoutMs?: number;
  /** `sni` is null for a ClientHello without SNI (a client that connected by IP). */
  onHello(sni: string | null, connection: BunSocketConnection, initial: Uint8Array): void;
  /** Non-TLS or malformed input; the connection is closed after this. */
  onReject?(remote: string, reason: string): void;
}

interface Slot {
  connection?: BunSocketConnection;
  reader?: ClientHelloReader;
  timer?: ReturnType<typeof setTimeout>;
}

export function createSniListener(opts: SniListenerOptions): TCPSocketListener<Slot> {
  const timeoutMs = opts.helloTimeoutMs ?? 10_000;
  const handlers = bunSocketHandlers<Slot>((connection, socket) => {
    socket.setNoDelay(true);
    const reader = createClientHelloReader();
    const remote = socket.remoteAddress;
    socket.data.timer = setTimeout(() => {
      opts.onReject?.(remote, "ClientHello timeout");
      connection.reset();
    }, timeoutMs);
    connection.ondata = (chunk) => {
      const r = reader.push(chunk);
      if (r.status === "incomplete") return;
      clearTimeout(socket.data.timer);
      connection.pause();
      connection.ondata = undefined;
      if (r.status === "hello") {
        opts.onHello(r.sni, connection, reader.bytes());
      } else {
        opts.onReject?.(remote, r.status === "notTls" ? "not TLS" : r.reason);
        connection.reset();
      }
    };
    connection.onclose = () => clearTimeout(socket.data.timer);
    connection.resume();
  });
  return Bun.listen<Slot>({
    hostname: opts.hostname,
    port: opts.port,
    allowHalfOpen: true,
    data: {},
    socket: handlers,
  });
}

export type { Socket };
