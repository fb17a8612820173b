// Plain HTTP from the public HTTP port, or decrypted in-process for tunnel domains the
// server's certificate covers. Every request of a keep-alive connection is routed by its
// own Host header (lib/http/request-stream.ts): the connection is bound to the tunnel of
// its first request, and a later request for another tunnel ends it, so a connection
// never carries a request to the wrong tunnel. Requests for the server's own domain are
// relayed to the web server.
import type { DuplexConnection } from "../net/connection.ts";
import { copyBytes } from "../net/release-buffer.ts";
import { createBasicAuthVerifier } from "../http/basic-auth.ts";
import { compileFirewall, type Firewall, type FirewallRule } from "../http/firewall.ts";
import type { RequestHead } from "../http/request-head.ts";
import { createRequestStream, type HeadDecision, type RequestStreamEnd } from "../http/request-stream.ts";
import { ACME_CHALLENGE_PREFIX } from "../acme/challenge-store.ts";
import { badRequestResponse, rawResponse, errorResponse, httpsRedirectResponse, notFoundResponse, tunnelOfflineResponse, unauthorizedResponse } from "../http/responses.ts";
import type { LoopbackRelay } from "./loopback-relay.ts";
import type { TrafficStats } from "../stats/traffic-stats.ts";
import type { MuxStream } from "../mux/stream.ts";
import type { RoutedTunnel, RouteTable } from "../tunnel/server/registry.ts";

export interface HttpRouter {
  handle(conn: DuplexConnection, remote: string, secure: boolean): void;
}

export interface HttpRouterOptions {
  routes: RouteTable;
  isOwnDomain(host: string): boolean;
  /** Whether a domain with no live route belongs to a tunnel that is offline now (502, not 404). */
  claimedDomain?(host: string): Promise<boolean>;
  webHttpPort(): number;
  /** Public HTTPS port, for HTTP→HTTPS redirects. */
  httpsPort(): number;
  relay: LoopbackRelay;
  stats: TrafficStats;
  /**
   * The key authorization of a pending HTTP-01 challenge of the server's own ACME orders
   * (lib/acme/challenge-store.ts). Answered for any Host before routing: an on-demand
   * certificate for a tunnel name is validated on the HTTP port like the server's domain.
   * Other tokens go to the tunnel (a client ordering its own certificate answers them).
   */
  acmeChallenge?(token: string): string | undefined;
  /** Defaults: 30 s to finish the first request head, 10 min without bytes either way. */
  headTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/** Firewalls compiled once per announced rule list. */
const firewalls = new WeakMap<readonly FirewallRule[], Firewall>();
export function firewallFor(rules: readonly FirewallRule[]): Firewall {
  let fw = firewalls.get(rules);
  if (!fw) {
    fw = compileFirewall(rules);
    firewalls.set(rules, fw);
  }
  return fw;
}

/** A visitor must finish its first request head within this time (slow-loris bound). */
const HEAD_TIMEOUT_MS = 30_000;
/** A connection with no bytes either way for this long is closed. */
const IDLE_TIMEOUT_MS = 10 * 60_000;

export function createHttpRouter(opts: HttpRouterOptions): HttpRouter {
  const headTimeoutMs = opts.headTimeoutMs ?? HEAD_TIMEOUT_MS;
  const idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const basicAuth = createBasicAuthVerifier();
  const acmeChallengeResponse = (head: RequestHead): Uint8Array | undefined => {
    if (!opts.acmeChallenge || !head.target.startsWith(ACME_CHALLENGE_PREFIX)) return undefined;
    const keyAuthorization = opts.acmeChallenge(head.target.slice(ACME_CHALLENGE_PREFIX.length));
    return keyAuthorization === undefined ? undefined : rawResponse(200, { body: keyAuthorization, contentType: "application/octet-stream", head: head.method === "HEAD" });
  };

  return {
    handle(conn, remote, secure) {
      let tunnel: RoutedTunnel | undefined;
      let stream: MuxStream | undefined;
      let ownDomain = false;
      /** Until the first decision, chunks are kept to be replayed if the connection goes to the web server. */
      let collecting = true;
      const pendingChunks: Uint8Array[] = [];
      let ended: RequestStreamEnd | undefined;
      let connClosed = false;
      let bytesIn = 0;
      let bytesOut = 0;
      let service = "";
      const started = Date.now();
      let lastActivity = started;
      // One timer per connection, re-armed lazily from `lastActivity` (no timer work per chunk).
      const watchdog = () => {
        timer = undefined;
        if (connClosed || ownDomain) return;
        const now = Date.now();
        const deadline = collecting ? started + headTimeoutMs : lastActivity + idleTimeoutMs;
        if (now >= deadline) {
          stream?.reset();
          conn.reset();
          return;
        }
        timer = setTimeout(watchdog, deadline - now);
      };
      let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(watchdog, headTimeoutMs);

      const finishWith = (response: Uint8Array | null) => {
        if (connClosed) return;
        if (response) conn.write(response);
        conn.end();
      };

      const openStream = (t: RoutedTunnel, host: string): boolean => {
        try {
          stream = t.openStream({ t: "http", d: host, r: remote, s: secure });
        } catch {
          return false;
        }
        tunnel = t;
        service = host;
        const s = stream;
        s.ondataCopies = conn.copiesWrites === true;
        s.ondata = (bytes) => {
          bytesOut += bytes.length;
          lastActivity = Date.now();
          if (!conn.write(bytes)) s.pause();
        };
        conn.ondrain = () => s.resume();
        // The tunnel finished its responses: answer an ending request locally, or close.
        s.onend = () => finishWith(ended?.response ?? null);
        s.onclose = (err) => {
          // A reset before any response byte is the client failing to reach the upstream
          // (or not knowing the rule): the visitor gets a 502 page rather than a dropped connection.
          if (err && bytesOut === 0) finishWith(errorResponse(502, `The service behind ${host} is not reachable right now.`));
          else if (err) conn.reset();
          else finishWith(ended?.response ?? null);
          opts.stats.recordConnection({ tunnelId: t.tunnelId, service, protocol: secure ? "https" : "http", remoteAddress: remote, bytesIn, bytesOut, started });
        };
        return true;
      };

      const decide = (head: RequestHead): HeadDecision | Promise<HeadDecision> => {
        const host = head.host;
        if (!host) return { action: "respond", response: badRequestResponse("A Host header is required.") };
        if (opts.isOwnDomain(host)) {
          if (head.index === 0) ownDomain = true;
          return { action: "stop" };
        }
        const challenge = acmeChallengeResponse(head);
        if (challenge) return { action: "respond", response: challenge };
        const route = opts.routes.http(host);
        if (!route) {
          if (tunnel) return { action: "stop" };
          const unknown: HeadDecision = { action: "respond", response: notFoundResponse(host) };
          if (!opts.claimedDomain) return unknown;
          // SPEC 2.3: a known domain whose tunnel is offline gets 502/503, only unknown hosts 404.
          return opts.claimedDomain(host).then(
            (claimed): HeadDecision => (claimed ? { action: "respond", response: tunnelOfflineResponse(host, 502) } : unknown),
            () => unknown,
          );
        }
        // The client picks the upstream once per stream, from the stream's domain: a request
        // for another rule (even of the same tunnel) must not ride on this stream.
        if (tunnel && (route.tunnel !== tunnel || host !== service)) return { action: "stop" };
        if (!route.tunnel.online) return { action: "respond", response: tunnelOfflineResponse(host, 502) };
        const forward = (): HeadDecision => {
          if (!stream && !openStream(route.tunnel, host)) return { action: "respond", response: tunnelOfflineResponse(host, 503) };
          return {
            action: "forward",
            forwardedFor: remote,
            forwardedProto: secure ? "https" : "http",
            forwardedHost: true,
            host: route.rule.rewriteHost || undefined,
          };
        };
        // The CA validating a certificate the client orders: from any address, over plain
        // HTTP, not to be redirected or asked for credentials. The client answers this
        // path itself and never passes it to its upstream.
        if (!secure && route.rule.answersAcme && isAcmeChallenge(head.target)) return forward();
        if (!firewallFor(route.rule.firewall).allows(remote)) return { action: "reject" };
        if (!secure && route.rule.redirect) return { action: "respond", response: httpsRedirectResponse(host, head.target, opts.httpsPort()) };
        if (route.rule.basicHttpAuth) {
          const unauthorized: HeadDecision = { action: "respond", response: unauthorizedResponse(host) };
          const ok = basicAuth.verify(route.rule.basicHttpAuth, head.get("authorization"));
          if (ok === true) return forward();
          if (ok === false) return unauthorized;
          return ok.then((v) => (v ? forward() : unauthorized));
        }
        return forward();
      };

      const rs = createRequestStream({
        onHead: (head) => {
          collecting = false;
          return decide(head);
        },
        onForward(bytes) {
          bytesIn += bytes.length;
          if (stream && !stream.write(bytes)) {
            conn.pause();
            stream.ondrain = () => conn.resume();
          }
        },
        onEnd(end) {
          ended = end;
          if (ownDomain && end.reason === "stop" && !tunnel) {
            // The whole connection belongs to the web server: hand over what was read so far.
            conn.pause();
            const replay = Buffer.concat(pendingChunks);
            pendingChunks.length = 0;
            void opts.relay.relay(conn, remote, opts.webHttpPort(), replay);
            return;
          }
          if (end.reason === "reject") {
            stream?.reset();
            conn.reset();
            return;
          }
          // Pending responses from the tunnel go out first; then the local answer.
          if (stream) stream.end();
          else finishWith(end.response);
        },
        onResume: () => conn.resume(),
      });

      conn.ondata = (chunk) => {
        lastActivity = Date.now();
        if (collecting) pendingChunks.push(copyBytes(chunk));
        else if (pendingChunks.length && !ownDomain) pendingChunks.length = 0;
        if (!rs.push(chunk)) conn.pause();
      };
      conn.onend = () => {
        rs.close();
        if (stream) stream.end();
        else if (!ownDomain) conn.end();
      };
      conn.onclose = (err) => {
        connClosed = true;
        clearTimeout(timer);
        rs.close();
        if (stream && !stream.closed) {
          if (err) stream.reset();
          else stream.end();
        }
      };
      conn.resume();
    },
  };
}

/** An HTTP-01 challenge request, in origin form or absolute form (RFC 9112 3.2). */
function isAcmeChallenge(target: string): boolean {
  const path = target.startsWith("/") ? target : target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  return path.startsWith(ACME_CHALLENGE_PREFIX);
}
