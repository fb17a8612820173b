/**
 * The SOCKS5 listener for Bun sockets: plain TCP (Bun.listen) or SOCKS inside TLS
 * (Bun.listen with `tls`, which terminates TLS before the first SOCKS byte).
 */
import type { TLSOptions } from "bun";
import { type BunSocketConnection, bunSocketHandlers } from "./connection.ts";
import { type SocksClientInfo, type SocksServeOptions, type SocksSessionRecord, serveSocksConnection } from "./server.ts";

export interface SocksListenerOptions extends SocksServeOptions {
  hostname: string;
  /** 0 picks a free port (read it back from `port`). */
  port: number;
  /** SOCKS inside TLS: the listener terminates TLS, then speaks SOCKS5. */
  tls?: TLSOptions;
  /** Concurrent sessions beyond this are reset on accept. Default 10,000. */
  maxSessions?: number;
  onSession?(record: SocksSessionRecord): void;
}

export interface SocksListener {
  readonly hostname: string;
  readonly port: number;
  readonly activeSessions: number;
  /** Stops accepting; with `closeActive`, also drops the sessions in progress. */
  stop(closeActive?: boolean): void;
}

interface Slot {
  connection?: BunSocketConnection;
}

export function createSocksListener(opts: SocksListenerOptions): SocksListener {
  const maxSessions = opts.maxSessions ?? 10_000;
  const tls = opts.tls !== undefined;
  let active = 0;
  const handlers = bunSocketHandlers<Slot>((connection, socket) => {
    if (active >= maxSessions) {
      connection.reset();
      return;
    }
    active++;
    socket.setNoDelay(true);
    const info: SocksClientInfo = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, tls };
    serveSocksConnection(connection, opts, info).then((record) => {
      active--;
      try {
        opts.onSession?.(record);
      } catch {
        // A reporting hook must not take the listener down.
      }
    });
  });
  const server = Bun.listen<Slot>({
    hostname: opts.hostname,
    port: opts.port,
    allowHalfOpen: true,
    ...(opts.tls ? { tls: opts.tls } : {}),
    data: {},
    socket: handlers,
  });
  return {
    hostname: server.hostname,
    port: server.port,
    get activeSessions() {
      return active;
    },
    stop(closeActive = false) {
      server.stop(closeActive);
    },
  };
}
