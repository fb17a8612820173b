/**
 * Opens a TCP connection with Bun.connect and returns it as a DuplexConnection,
 * mapping connect errors to SOCKS reply codes (RFC 1928 §6).
 */
import type { Socket } from "bun";
import { type BunSocketConnection, bunSocketHandlers } from "./connection.ts";
import type { DialResult } from "./handshake.ts";
import { Reply } from "./protocol.ts";

export interface DialTcpOptions {
  /** Default 10 s; an expired connect answers 0x04 (host unreachable). */
  timeoutMs?: number;
}

/** errno names as Bun reports them in `error.code`. */
const REPLY_FOR_CODE: Record<string, number> = {
  ECONNREFUSED: Reply.CONNECTION_REFUSED,
  ENETUNREACH: Reply.NETWORK_UNREACHABLE,
  ENETDOWN: Reply.NETWORK_UNREACHABLE,
  EHOSTUNREACH: Reply.HOST_UNREACHABLE,
  EHOSTDOWN: Reply.HOST_UNREACHABLE,
  ETIMEDOUT: Reply.HOST_UNREACHABLE,
  ENOTFOUND: Reply.HOST_UNREACHABLE,
  EAI_AGAIN: Reply.HOST_UNREACHABLE,
  EADDRNOTAVAIL: Reply.HOST_UNREACHABLE,
  EACCES: Reply.NOT_ALLOWED,
  EPERM: Reply.NOT_ALLOWED,
};

/** The SOCKS reply code for a failed connect. */
export function replyForConnectError(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === "string" && REPLY_FOR_CODE[code]) || Reply.GENERAL_FAILURE;
}

interface Slot {
  connection?: BunSocketConnection;
}

/**
 * Connects to host:port. The returned connection starts paused (bytes the server
 * sends first, like an SSH banner, are held until the consumer resumes) and has
 * Nagle disabled: a relay should not add its own delay to small interactive writes.
 */
export async function dialTcp(host: string, port: number, opts: DialTcpOptions = {}): Promise<DialResult> {
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
      return { ok: false, reply: Reply.HOST_UNREACHABLE, reason: `connect to ${host}:${port} timed out` };
    }
    const connection = (socket as Socket<Slot>).data.connection;
    if (!connection) return { ok: false, reply: Reply.GENERAL_FAILURE, reason: "socket opened without a connection" };
    return { ok: true, connection, bound: { host: socket.localAddress, port: socket.localPort } };
  } catch (err) {
    return { ok: false, reply: replyForConnectError(err), reason: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    // A connect that lands after the timeout is closed instead of leaked.
    if (timedOut) connecting.then((s) => s.terminate(), () => {});
  }
}
