/**
 * SOCKS5 server handshake as a transport-agnostic state machine: feed it the
 * client's bytes, it sends replies through `send` and ends in exactly one outcome,
 * "connected" (with the dialled connection and any bytes the client sent after its
 * request) or "failed" (the reply, if any, already sent: the caller closes).
 *
 *   greeting (RFC 1928 §3) -> [username/password (RFC 1929)] -> request (§4) -> dial -> reply (§6)
 */
import type { DuplexConnection } from "../net/connection.ts";
import {
  type AddrTypeCode,
  type BoundAddress,
  Command,
  MAX_AUTH_REQUEST_BYTES,
  MAX_GREETING_BYTES,
  MAX_REQUEST_BYTES,
  Method,
  Reply,
  buildAuthReply,
  buildMethodSelection,
  buildReply,
  parseAuthRequest,
  parseGreeting,
  parseRequest,
  replyText,
} from "./protocol.ts";

export interface SocksTarget {
  /** As sent by the client: dotted IPv4, RFC 5952 IPv6, or a domain name. */
  host: string;
  port: number;
  addrType: AddrTypeCode;
}

export type SocksAuth =
  | "none"
  | { verify(username: string, password: string): boolean | Promise<boolean> };

export type DialResult =
  | {
      ok: true;
      connection: DuplexConnection;
      /** The address the server connected from (RFC 1928 §6 BND.ADDR/BND.PORT), when known. */
      bound?: BoundAddress;
      /** Bytes already read from the destination: delivered to the client right after the reply. */
      initialBtoA?: Uint8Array;
    }
  | { ok: false; reply: number; reason?: string };

export interface SocksHandshakeOptions {
  auth: SocksAuth;
  /** Decides and opens the destination; refusals come back as a reply code (0x02, 0x04, ...). */
  resolveAndDial(target: SocksTarget, info: { username?: string }): Promise<DialResult>;
  /** Writes bytes to the client. */
  send(bytes: Uint8Array): void;
  /** Called exactly once, synchronously, so the caller can take over the client stream without a gap. */
  onDone(outcome: HandshakeOutcome): void;
  /**
   * Called on every state change. "verifying" and "dialing" wait on a promise: a
   * caller that can pause its input should, so later bytes (and an early FIN) wait
   * in the transport instead of here.
   */
  onState?(state: HandshakeState): void;
  /**
   * The client's greeting, authentication and request must all arrive within this
   * time (slow-loris guard). Default 10 s.
   */
  timeoutMs?: number;
  /** Time allowed for resolveAndDial; on expiry the client gets 0x04. Default 10 s. */
  dialTimeoutMs?: number;
  /**
   * Bytes the client may send after its request before the reply (optimistic data).
   * Beyond this the session fails: a well-behaved client waits for the reply.
   */
  maxEarlyDataBytes?: number;
}

export type HandshakeOutcome =
  | {
      kind: "connected";
      connection: DuplexConnection;
      target: SocksTarget;
      username?: string;
      /** Client bytes received after the request: forward them before anything else. */
      earlyData: Uint8Array;
      /** Destination bytes already read by the dialer: send them to the client first. */
      initialBtoA?: Uint8Array;
    }
  | {
      kind: "failed";
      /** The REP (or 0xFF method / RFC 1929 status) already sent; undefined when nothing was sent. */
      reply?: number;
      reason: string;
      target?: SocksTarget;
      username?: string;
    };

export type HandshakeState = "greeting" | "auth" | "verifying" | "request" | "dialing" | "done";

export interface SocksHandshake {
  feed(bytes: Uint8Array): void;
  /** The client went away (or the caller gives up): fail now; a dial still under way is reset when it lands. */
  abort(reason: string): void;
  readonly state: HandshakeState;
  /** Client bytes held (not yet parsed, or early data): at most the three messages' maxima plus maxEarlyDataBytes. */
  readonly buffered: number;
}

/** BND.ADDR is informational for CONNECT; an address that cannot be encoded is sent as 0.0.0.0:0. */
function successReply(bound?: BoundAddress): Uint8Array {
  try {
    return buildReply(Reply.SUCCEEDED, bound);
  } catch {
    return buildReply(Reply.SUCCEEDED);
  }
}

export function createSocksHandshake(opts: SocksHandshakeOptions): SocksHandshake {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const dialTimeoutMs = opts.dialTimeoutMs ?? 10_000;
  const maxEarly = opts.maxEarlyDataBytes ?? 64 * 1024;
  // Everything that may legally be in flight before the request is answered.
  const maxBuffered = MAX_GREETING_BYTES + MAX_AUTH_REQUEST_BYTES + MAX_REQUEST_BYTES + maxEarly;

  let state: HandshakeState = "greeting";
  let buf = new Uint8Array(0);
  let username: string | undefined;
  let target: SocksTarget | undefined;
  let dialTimer: ReturnType<typeof setTimeout> | undefined;
  const handshakeTimer = setTimeout(() => fail("handshake timed out"), timeoutMs);

  function setState(next: HandshakeState): void {
    state = next;
    opts.onState?.(next);
  }

  function finish(outcome: HandshakeOutcome): void {
    if (state === "done") return;
    state = "done";
    clearTimeout(handshakeTimer);
    if (dialTimer) clearTimeout(dialTimer);
    buf = new Uint8Array(0);
    opts.onDone(outcome);
  }

  function fail(reason: string, reply?: number, bytes?: Uint8Array): void {
    if (state === "done") return;
    if (bytes) opts.send(bytes);
    finish({ kind: "failed", reply, reason, target, username });
  }

  function failRequest(code: number, reason: string): void {
    fail(reason, code, buildReply(code));
  }

  function consume(n: number): void {
    buf = buf.subarray(n);
  }

  function onGreeting(methods: number[]): void {
    const requireAuth = opts.auth !== "none";
    // RFC 1928 §3: the server picks one of the offered methods or answers 0xFF and
    // closes. Without required auth, a client that only offers username/password
    // is still served (any credentials pass).
    let method: number = Method.NO_ACCEPTABLE;
    if (!requireAuth && methods.includes(Method.NO_AUTH)) method = Method.NO_AUTH;
    else if (methods.includes(Method.USERNAME_PASSWORD)) method = Method.USERNAME_PASSWORD;
    if (method === Method.NO_ACCEPTABLE) {
      const why = requireAuth ? "client does not offer username/password authentication" : "no acceptable authentication method";
      fail(why, Method.NO_ACCEPTABLE, buildMethodSelection(Method.NO_ACCEPTABLE));
      return;
    }
    opts.send(buildMethodSelection(method));
    setState(method === Method.USERNAME_PASSWORD ? "auth" : "request");
  }

  function onCredentials(user: string, password: string): void {
    username = user;
    setState("verifying");
    const auth = opts.auth;
    let verdict: Promise<boolean>;
    try {
      verdict = Promise.resolve(auth === "none" ? true : auth.verify(user, password));
    } catch (err) {
      verdict = Promise.reject(err);
    }
    verdict.then(
      (ok) => {
        if (state !== "verifying") return; // timed out or aborted meanwhile
        if (!ok) {
          // RFC 1929 §2: a failure status, then the server MUST close the connection.
          fail("authentication failed", 0x01, buildAuthReply(false));
          return;
        }
        opts.send(buildAuthReply(true));
        setState("request");
        advance();
      },
      () => {
        if (state === "verifying") fail("authentication check failed", 0x01, buildAuthReply(false));
      },
    );
  }

  function onRequest(t: SocksTarget, command: number): void {
    target = t;
    if (command !== Command.CONNECT) {
      const name = command === Command.BIND ? "BIND" : command === Command.UDP_ASSOCIATE ? "UDP ASSOCIATE" : `command ${command}`;
      failRequest(Reply.COMMAND_NOT_SUPPORTED, `${name} is not supported`);
      return;
    }
    // Bytes that came in the same read as the request are early data too: hold them to
    // the same cap as those arriving while dialling.
    if (buf.length > maxEarly) {
      fail("too much data before the connect reply");
      return;
    }
    clearTimeout(handshakeTimer);
    setState("dialing");
    let settled = false;
    dialTimer = setTimeout(() => {
      settled = true;
      failRequest(Reply.HOST_UNREACHABLE, "connect timed out");
    }, dialTimeoutMs);
    let dialing: Promise<DialResult>;
    try {
      dialing = opts.resolveAndDial(t, { username });
    } catch (err) {
      dialing = Promise.reject(err);
    }
    dialing.then(
      (result) => {
        if (settled || state !== "dialing") {
          // Too late: the client was answered or went away. Don't leak the connection.
          if (result.ok) result.connection.reset();
          return;
        }
        settled = true;
        if (!result.ok) {
          failRequest(result.reply, result.reason ?? replyText(result.reply));
          return;
        }
        opts.send(successReply(result.bound));
        const earlyData = buf.slice();
        finish({ kind: "connected", connection: result.connection, target: t, username, earlyData, initialBtoA: result.initialBtoA });
      },
      (err) => {
        if (settled || state !== "dialing") return;
        settled = true;
        failRequest(Reply.GENERAL_FAILURE, `dial failed: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  }

  /** Runs the state machine over the buffered bytes until it needs more or waits on a promise. */
  function advance(): void {
    for (;;) {
      if (state === "greeting") {
        const r = parseGreeting(buf);
        if (r.status === "incomplete") return;
        if (r.status === "error") {
          const reply = r.reply === undefined ? undefined : buildMethodSelection(r.reply);
          return fail(r.message, r.reply, reply);
        }
        consume(r.consumed);
        onGreeting(r.value.methods);
      } else if (state === "auth") {
        const r = parseAuthRequest(buf);
        if (r.status === "incomplete") return;
        if (r.status === "error") return fail(r.message, 0x01, buildAuthReply(false));
        consume(r.consumed);
        onCredentials(r.value.username, r.value.password);
      } else if (state === "request") {
        const r = parseRequest(buf);
        if (r.status === "incomplete") return;
        if (r.status === "error") return r.reply === undefined ? fail(r.message) : failRequest(r.reply, r.message);
        consume(r.consumed);
        const { command, host, port, addrType } = r.value;
        onRequest({ host, port, addrType }, command);
      } else {
        return; // verifying, dialing, done: bytes wait in buf
      }
    }
  }

  return {
    get state() {
      return state;
    },
    get buffered() {
      return buf.length;
    },
    feed(bytes: Uint8Array): void {
      if (state === "done" || bytes.length === 0) return;
      const limit = state === "dialing" ? maxEarly : maxBuffered;
      if (buf.length + bytes.length > limit) {
        fail(state === "dialing" ? "too much data before the connect reply" : "handshake too large");
        return;
      }
      const next = new Uint8Array(buf.length + bytes.length);
      next.set(buf);
      next.set(bytes, buf.length);
      buf = next;
      advance();
    },
    abort(reason: string): void {
      fail(reason);
    },
  };
}

