/**
 * One SOCKS5 server session over any DuplexConnection (a TCP or TLS socket, or a
 * tunnel stream carrying mesh traffic): handshake, relay, close. The destination
 * policy lives entirely in the injected `dial`; this module only speaks the
 * protocol and relays. The Bun.listen adapter is listener.ts.
 */
import type { DuplexConnection } from "../net/connection.ts";
import { type DialResult, type HandshakeOutcome, type SocksTarget, createSocksHandshake } from "./handshake.ts";
import { pipe } from "../net/pipe.ts";

export interface SocksClientInfo {
  remoteAddress?: string;
  remotePort?: number;
  /** The client reached a TLS listener. */
  tls?: boolean;
}

export type SocksServerAuth =
  | "none"
  | { verify(username: string, password: string, client: SocksClientInfo): boolean | Promise<boolean> };

export interface SocksServeOptions {
  auth: SocksServerAuth;
  dial(target: SocksTarget, ctx: { username?: string; client: SocksClientInfo }): Promise<DialResult>;
  /** Greeting + authentication + request must arrive within this time. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Default 10 s; on expiry the client gets 0x04. */
  dialTimeoutMs?: number;
  /**
   * After a failure reply, how long the client gets to close before it is reset.
   * RFC 1928 §6 wants the connection gone within 10 s of the failure; closing our
   * side at once could turn unread client bytes into an RST that destroys the reply.
   */
  closeLingerMs?: number;
}

/** One SOCKS session, reported when it is over (stats, connection log). */
export interface SocksSessionRecord {
  client: SocksClientInfo;
  target?: SocksTarget;
  username?: string;
  /** REP sent (0 when connected); for auth failures the RFC 1929 status, 0xFF for no method; undefined if none. */
  reply?: number;
  /** Why the session failed or how it ended abruptly. */
  reason?: string;
  /** Client to destination, including bytes sent right after the request. */
  bytesUp: number;
  bytesDown: number;
  startedAt: Date;
  durationMs: number;
}

/**
 * Runs one session to its end: handshake, then relay, then close. The client
 * connection must be fresh (its handlers are taken over) and may start paused.
 */
export function serveSocksConnection(client: DuplexConnection, opts: SocksServeOptions, info: SocksClientInfo = {}): Promise<SocksSessionRecord> {
  const startedAt = new Date();
  const lingerMs = opts.closeLingerMs ?? 2_000;
  const record = (fields: Partial<SocksSessionRecord>): SocksSessionRecord => ({
    client: info,
    bytesUp: 0,
    bytesDown: 0,
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    ...fields,
  });
  const auth = opts.auth;

  return new Promise((resolve) => {
    let clientClosed = false;
    const onDone = (outcome: HandshakeOutcome) => {
      if (outcome.kind === "connected") {
        const { connection, target, username, earlyData, initialBtoA } = outcome;
        pipe(client, connection, { initialAtoB: earlyData, initialBtoA }).then((r) =>
          resolve(record({ target, username, reply: 0, bytesUp: r.bytesAtoB, bytesDown: r.bytesBtoA, reason: r.error?.message })),
        );
        return;
      }
      const { reply, reason, target, username } = outcome;
      const done = () => resolve(record({ target, username, reply, reason }));
      if (clientClosed) done();
      else closeAfterReply(client, lingerMs).then(done);
    };

    const handshake = createSocksHandshake({
      auth: auth === "none" ? "none" : { verify: (u, p) => auth.verify(u, p, info) },
      resolveAndDial: (target, { username }) => opts.dial(target, { username, client: info }),
      send: (bytes) => client.write(bytes),
      onDone,
      onState: (state) => {
        // While a promise is pending, leave further bytes (and an early FIN) in the
        // transport; the relay resumes the client once connected.
        if (state === "verifying" || state === "dialing") client.pause();
        else client.resume();
      },
      timeoutMs: opts.handshakeTimeoutMs,
      dialTimeoutMs: opts.dialTimeoutMs,
    });

    client.ondata = (bytes) => handshake.feed(bytes);
    client.onend = () => handshake.abort("client closed during handshake");
    client.onclose = (err) => {
      clientClosed = true;
      handshake.abort(err ? `client connection failed: ${err.message}` : "client closed during handshake");
    };
    client.resume();
  });
}

/** Half-closes after the queued reply, discards what the client still sends, resets if it lingers. */
function closeAfterReply(client: DuplexConnection, lingerMs: number): Promise<void> {
  return new Promise((resolve) => {
    let closed = false;
    const timer = setTimeout(() => {
      client.reset();
      client.onclose?.();
    }, lingerMs);
    client.ondata = () => {};
    client.ondrain = undefined;
    client.onend = () => client.reset();
    client.onclose = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      resolve();
    };
    client.end();
    client.resume();
  });
}
