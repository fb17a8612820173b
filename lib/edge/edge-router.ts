// Joins public connections to tunnels: a TCP port connection, a TLS ClientHello on the
// HTTPS port, or plain HTTP (through lib/http's request stream, routed per request).
// Accounting (bandwidth, connection records) happens here, once per connection.
import type { Logger } from "../log.ts";
import type { BunSocketConnection, DuplexConnection } from "../net/connection.ts";
import { pipe } from "../net/pipe.ts";
import type { TrafficStats } from "../stats/traffic-stats.ts";
import type { LoopbackRelay } from "./loopback-relay.ts";
import { terminateTls, type CertificateSelector } from "./tls-termination.ts";
import { serveOwnDomain } from "./own-domain.ts";
import type { TunnelServer } from "../tunnel/server/server.ts";
import type { RoutedTunnel, RouteTable } from "../tunnel/server/registry.ts";
import type { ServerStreamMeta } from "../tunnel/messages.ts";
import { createHttpRouter, firewallFor, type HttpRouter } from "./http-router.ts";

export interface EdgeRouterOptions {
  /** Where each name and port goes: the tunnel registry, or a cluster node's composite table. */
  routes: RouteTable;
  /** The tunnel (and peer link) endpoints, for upgrades on the server's own domain at the front door. */
  endpoints: Pick<TunnelServer, "admit">;
  stats: TrafficStats;
  relay: LoopbackRelay;
  /** The server's own domain (dashboard, API, tunnel endpoints). */
  domain(): string;
  /** Whether the server's certificate covers a hostname (then it can terminate it). */
  certificateCovers(hostname: string): boolean;
  /** Whether a domain with no live route belongs to a tunnel that is offline now. */
  claimedDomain?(hostname: string): Promise<boolean>;
  /** Loopback port of the web server for decrypted own-domain requests (dashboard, APIs). */
  webPlainPort(): number;
  /** Loopback port of the plain-HTTP web server (dashboard on port 80, ACME HTTP-01 later). */
  webHttpPort(): number;
  /**
   * The certificate for a tunnel name the server terminates itself (in-process, on the
   * connection the ClientHello came in on). The seam for per-name and on-demand certificates.
   */
  selectCertificate: CertificateSelector;
  /** The public HTTPS port (HTTP→HTTPS redirects). */
  httpsPort(): number;
  /** Pending HTTP-01 challenges of the server's own ACME orders, answered on the HTTP port for any Host (see http-router.ts). */
  acmeChallenge?(token: string): string | undefined;
  /** Each public connection the router accepted into a tunnel or refused, with why (metrics). */
  onConnection?(kind: ConnectionKind, outcome: ConnectionOutcome): void;
  log: Logger;
}

/** The public listener a connection came through: a tunnel's TCP port, the HTTPS port, the HTTP port. */
export type ConnectionKind = "tcp" | "tls" | "http";

/** What became of a public connection: joined to a tunnel, relayed to a local listener, or refused. */
export type ConnectionOutcome = "accepted" | "no_route" | "firewall" | "no_certificate" | "stream_failed";

export interface EdgeRouter {
  onTcpConnection(port: number, conn: BunSocketConnection, remote: string): void;
  onTlsHello(sni: string | null, conn: BunSocketConnection, initial: Uint8Array): void;
  /** Plain HTTP from the public HTTP port (`secure` false) or decrypted HTTPS (`secure` true). */
  onHttpConnection(conn: DuplexConnection, remote: string, secure: boolean): void;
}

export function createEdgeRouter(opts: EdgeRouterOptions): EdgeRouter {
  const { routes, stats } = opts;
  const count = (kind: ConnectionKind, outcome: ConnectionOutcome) => opts.onConnection?.(kind, outcome);
  const refuse = (kind: ConnectionKind, conn: DuplexConnection, why: ConnectionOutcome) => {
    count(kind, why);
    conn.reset();
  };

  /** Pipes a public connection into a new tunnel stream and accounts for it when it closes. */
  const joinTunnel = (
    tunnel: RoutedTunnel,
    conn: DuplexConnection,
    meta: ServerStreamMeta,
    service: string,
    protocol: "http" | "https" | "tcp",
    initial?: Uint8Array,
  ) => {
    const started = Date.now();
    const kind = protocol === "tcp" ? "tcp" : "tls";
    let stream;
    try {
      stream = tunnel.openStream(meta);
    } catch {
      return refuse(kind, conn, "stream_failed");
    }
    count(kind, "accepted");
    void pipe(conn, stream, { initialAtoB: initial }).then((r) =>
      stats.recordConnection({ tunnelId: tunnel.tunnelId, service, protocol, remoteAddress: meta.r, bytesIn: r.bytesAtoB, bytesOut: r.bytesBtoA, started }),
    );
  };

  const http: HttpRouter = createHttpRouter({
    routes,
    isOwnDomain: (host) => host === opts.domain(),
    claimedDomain: opts.claimedDomain,
    webHttpPort: opts.webHttpPort,
    httpsPort: opts.httpsPort,
    relay: opts.relay,
    stats,
    acmeChallenge: opts.acmeChallenge,
  });

  /** Terminates TLS here and hands the plaintext to the HTTP router; the visitor's address is the connection's own. */
  const terminate = (conn: DuplexConnection, sni: string | null, initial: Uint8Array, remote: string, own = false) => {
    count("tls", "accepted");
    void terminateTls(conn, sni, initial, { selectCertificate: opts.selectCertificate }).then((plain) => {
      if (!plain) return;
      if (own) serveOwnDomain(plain, remote, { tunnels: opts.endpoints, relay: opts.relay, webPlainPort: opts.webPlainPort });
      else http.handle(plain, remote, true);
    });
  };

  return {
    onTcpConnection(port, conn, remote) {
      const route = routes.port(port);
      // A private (mesh-only) port has no listener; this guards a connection racing a change.
      if (!route || !route.tunnel.online || route.rule.private) return refuse("tcp", conn, "no_route");
      if (!firewallFor(route.rule.firewall).allows(remote)) return refuse("tcp", conn, "firewall");
      joinTunnel(route.tunnel, conn, { t: "tcp", p: port, r: remote }, String(port), "tcp");
    },

    onTlsHello(sni, conn, initial) {
      const remote = conn.remoteAddress;
      // The ClientHello reader already lowercased and validated the name.
      const host = sni ?? "";
      // No SNI (a client that connected by IP) is the server's own domain (SPEC 2.3).
      if (!host || host === opts.domain()) return terminate(conn, sni, initial, remote, true);
      const route = routes.http(host);
      if (!route || !route.tunnel.online) {
        // An unknown name is closed (SPEC 2.3). A known domain whose tunnel is offline, under
        // the server's certificate, is terminated so the HTTP router can answer 502.
        const claimed = opts.claimedDomain && opts.certificateCovers(host) ? opts.claimedDomain(host) : Promise.resolve(false);
        void claimed.then(
          (known) => (known ? terminate(conn, host, initial, remote) : refuse("tls", conn, "no_route")),
          () => refuse("tls", conn, "no_route"),
        );
        return;
      }
      if (!firewallFor(route.rule.firewall).allows(remote)) return refuse("tls", conn, "firewall");
      if (route.rule.ownCertificate) {
        joinTunnel(route.tunnel, conn, { t: "tls", d: host, r: remote }, host, "https", initial);
        return;
      }
      if (opts.certificateCovers(host)) return terminate(conn, host, initial, remote);
      // Neither the rule nor the server has a certificate for this name: close cleanly.
      refuse("tls", conn, "no_certificate");
    },

    onHttpConnection(conn, remote, secure) {
      // TLS connections were counted at their ClientHello; the HTTP router answers every request.
      if (!secure) count("http", "accepted");
      http.handle(conn, remote, secure);
    },
  };
}
