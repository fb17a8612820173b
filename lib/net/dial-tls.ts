// A TLS connection to an upstream that speaks HTTPS (`--tls PORT` rules).
import type { Socket } from "bun";
import { bunSocketHandlers, type BunSocketConnection, type ConnectionSlot } from "./connection.ts";

type Slot = ConnectionSlot;

/**
 * Resolves once the TLS handshake is done, not when TCP connects: Bun.connect resolves
 * at TCP open, and bytes written to a TLS socket before its handshake completes are
 * silently lost (Bun 1.4), so piping at once would drop the visitor's request. The
 * connection starts paused, which would also stall the handshake: the socket reads
 * meanwhile (application data that comes early is held by the still-paused connection).
 */
export async function dialTls(
  host: string,
  port: number,
  tls: { rejectUnauthorized: boolean; serverName?: string },
  timeoutMs = 10_000,
): Promise<BunSocketConnection | undefined> {
  let settle!: (ok: boolean) => void;
  const handshake = new Promise<boolean>((resolve) => (settle = resolve));
  const handlers = bunSocketHandlers<Slot>((_c, s) => s.setNoDelay(true));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const socket = (await Bun.connect<Slot>({
      hostname: host,
      port,
      allowHalfOpen: true,
      data: {},
      tls: { rejectUnauthorized: tls.rejectUnauthorized, serverName: tls.serverName },
      socket: {
        ...handlers,
        handshake: (_s, authorized) => settle(authorized || !tls.rejectUnauthorized),
        close(s, err) {
          settle(false);
          handlers.close?.(s, err);
        },
        connectError() {},
      },
    })) as Socket<Slot>;
    socket.resume();
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    if (!(await Promise.race([handshake, timeout]))) {
      socket.data.connection?.reset();
      return undefined;
    }
    return socket.data.connection;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
