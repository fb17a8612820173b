/**
 * The SOCKS5 listener for Bun sockets: plain TCP (Bun.listen) or SOCKS inside TLS.
 *
 * SOCKS inside TLS is a plain TCP listener relaying to a TLS listener of our own on
 * 127.0.0.1. Bun reports an accepted TLS socket (`open`) only once its handshake is
 * done, so a peer that connects and never finishes the handshake would otherwise hold
 * its socket forever, unseen by any timer: the plain front sees it at accept and resets
 * it when the TLS side has not opened it within the handshake time-out.
 */
import type { TCPSocketListener, TLSOptions } from "bun";
import { type BunSocketConnection, bunSocketHandlers } from "../net/connection.ts";
import { dialTcp } from "../net/dial-tcp.ts";
import { pipe } from "../net/pipe.ts";
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

  const serve = (connection: BunSocketConnection, info: SocksClientInfo) => {
    if (active >= maxSessions) {
      connection.reset();
      return;
    }
    active++;
    serveSocksConnection(connection, opts, info).then((record) => {
      active--;
      try {
        opts.onSession?.(record);
      } catch {
        // A reporting hook must not take the listener down.
      }
    });
  };

  if (!opts.tls) {
    const server = Bun.listen<Slot>({
      hostname: opts.hostname,
      port: opts.port,
      allowHalfOpen: true,
      data: {},
      socket: bunSocketHandlers<Slot>((connection, socket) => {
        socket.setNoDelay(true);
        serve(connection, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, tls });
      }),
    });
    return listenerFacade(server, [], () => active);
  }

  // ---- SOCKS inside TLS: plain front door → TLS on loopback ----------------------------------
  const handshakeMs = opts.handshakeTimeoutMs ?? 10_000;
  /** Relays waiting for their TLS handshake, by the source port of the loopback leg. */
  const pending = new Map<number, { client: SocksClientInfo; opened(): void }>();
  let relays = 0;

  const inner = Bun.listen<Slot>({
    hostname: "127.0.0.1",
    port: 0,
    tls: opts.tls,
    allowHalfOpen: true,
    data: {},
    socket: bunSocketHandlers<Slot>((connection, socket) => {
      const relay = pending.get(socket.remotePort);
      // Only our own front door connects here; anything else on loopback is dropped.
      if (!relay) return connection.reset();
      relay.opened();
      socket.setNoDelay(true);
      serve(connection, relay.client);
    }),
  });

  const front = Bun.listen<Slot>({
    hostname: opts.hostname,
    port: opts.port,
    allowHalfOpen: true,
    data: {},
    socket: bunSocketHandlers<Slot>((connection, socket) => {
      // Each relay is a session-to-be: the same cap bounds peers still in their handshake.
      if (relays >= maxSessions) return connection.reset();
      relays++;
      socket.setNoDelay(true);
      const client: SocksClientInfo = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, tls };
      void dialTcp("127.0.0.1", inner.port, { timeoutMs: 5_000 }).then((dialled) => {
        const srcPort = dialled.ok ? dialled.bound?.port : undefined;
        if (!dialled.ok || !srcPort) {
          relays--;
          if (dialled.ok) dialled.connection.reset();
          return connection.reset();
        }
        const timer = setTimeout(() => {
          pending.delete(srcPort);
          connection.reset();
          dialled.connection.reset();
        }, handshakeMs);
        pending.set(srcPort, {
          client,
          opened() {
            clearTimeout(timer);
            pending.delete(srcPort);
          },
        });
        void pipe(connection, dialled.connection).then(() => {
          relays--;
          clearTimeout(timer);
          pending.delete(srcPort);
        });
      });
    }),
  });
  return listenerFacade(front, [inner], () => active);
}

function listenerFacade(front: TCPSocketListener<Slot>, others: TCPSocketListener<Slot>[], active: () => number): SocksListener {
  return {
    hostname: front.hostname,
    port: front.port,
    get activeSessions() {
      return active();
    },
    stop(closeActive = false) {
      front.stop(closeActive);
      for (const o of others) o.stop(closeActive);
    },
  };
}
