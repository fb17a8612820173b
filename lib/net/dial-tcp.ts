/**
 * Opens a TCP connection with Bun.connect and returns it as a DuplexConnection.
 * Callers that answer a failure in a protocol of their own (the SOCKS dialer's reply
 * codes) read `error.code`, the errno name as Bun reports it.
 */
import type { Socket } from "bun";
import { type BunSocketConnection, bunSocketHandlers, type ConnectionSlot } from "./connection.ts";

export interface DialTcpOptions {
  /** Default 10 s; an expired connect fails with code ETIMEDOUT. */
  timeoutMs?: number;
}

export type DialTcpResult =
  | {
      ok: true;
      connection: BunSocketConnection;
      /** The local address the connection was made from. */
      bound: { host: string; port: number };
    }
  | { ok: false; error: Error & { code?: string } };

type Slot = ConnectionSlot;

/**
 * Connects to host:port. The returned connection starts paused (bytes the server
 * sends first, like an SSH banner, are held until the consumer resumes) and has
 * Nagle disabled: a relay should not add its own delay to small interactive writes.
 */
export async function dialTcp(host: string, port: number, opts: DialTcpOptions = {}): Promise<DialTcpResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const handlers = bunSocketHandlers<Slot>((_conn, socket) => socket.setNoDelay(true));
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const connecting = Bun.connect<Slot>({
    hostname: host,
    port,
    allowHalfOpen: true,
    data: {},
    socket: {
      ...handlers,
      // Handled through the returned promise; without this Bun also reports it as unhandled.
      connectError() {},
    },
  });
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    const socket = await Promise.race([connecting, timeout]);
    if (socket === "timeout") {
      timedOut = true;
      return { ok: false, error: Object.assign(new Error(`connect to ${host}:${port} timed out`), { code: "ETIMEDOUT" }) };
    }
    const connection = (socket as Socket<Slot>).data.connection;
    if (!connection) return { ok: false, error: new Error("socket opened without a connection") };
    return { ok: true, connection, bound: { host: socket.localAddress, port: socket.localPort } };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  } finally {
    clearTimeout(timer);
    // A connect that lands after the timeout is closed instead of leaked.
    if (timedOut) connecting.then((s) => s.terminate(), () => {});
  }
}
