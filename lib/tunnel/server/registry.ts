// The server's in-memory routing table: which live tunnel serves a domain or a port.
// Public listeners look up here on every connection (and every HTTP request), so
// lookups are plain Map reads.
import type { MuxStream } from "../../mux/stream.ts";
import type { HttpRuleAnnounce, PortRuleAnnounce, ServerStreamMeta } from "../messages.ts";

/** What the routing table needs of a live tunnel (the server engine's session object). */
export interface RoutableTunnel {
  readonly tunnelId: string;
  readonly userId: string | null;
  readonly online: boolean;
}

export interface HttpRoute<T extends RoutableTunnel> {
  tunnel: T;
  rule: HttpRuleAnnounce;
}

export interface PortRoute<T extends RoutableTunnel> {
  tunnel: T;
  rule: PortRuleAnnounce;
}

/**
 * A tunnel a router can send a visitor to: a live tunnel of this server, or (cluster mode)
 * one held by another node, reached through the peer link (lib/cluster/remote-routes.ts).
 */
export interface RoutedTunnel extends RoutableTunnel {
  /** Opens a stream toward the tunnel's client at once; throws when that is not possible now. */
  openStream(meta: ServerStreamMeta): MuxStream;
}

/**
 * The lookups the routers (edge, HTTP, mesh, on-demand admission) make: a single server's
 * registry is one; in cluster mode a composite of the local registry and the other
 * nodes' tunnels (lib/cluster/route-table.ts).
 */
export interface RouteTable {
  http(domain: string): HttpRoute<RoutedTunnel> | undefined;
  port(port: number): PortRoute<RoutedTunnel> | undefined;
}

export interface TunnelRegistry<T extends RoutableTunnel> {
  byId(tunnelId: string): T | undefined;
  all(): IterableIterator<T>;
  readonly size: number;
  add(tunnel: T): void;
  /** Removes the tunnel and every route it held (only if it is still the registered one). */
  remove(tunnel: T): void;
  /**
   * Replaces a tunnel's routes; returns the ports whose public listener must open or close:
   * forwarded ports that are not private (a private port is routed for the mesh only).
   */
  setRoutes(tunnel: T, https: HttpRuleAnnounce[], ports: PortRuleAnnounce[]): { opened: number[]; closed: number[] };
  http(domain: string): HttpRoute<T> | undefined;
  port(port: number): PortRoute<T> | undefined;
}

export function createTunnelRegistry<T extends RoutableTunnel>(): TunnelRegistry<T> {
  const tunnels = new Map<string, T>();
  const domains = new Map<string, HttpRoute<T>>();
  const portRoutes = new Map<number, PortRoute<T>>();
  const owned = new Map<string, { domains: string[]; ports: number[] }>();

  /** Removes the tunnel's routes; returns its ports that had a public listener. */
  const clearRoutes = (tunnel: T): number[] => {
    const o = owned.get(tunnel.tunnelId);
    const closed: number[] = [];
    if (!o) return closed;
    for (const d of o.domains) if (domains.get(d)?.tunnel === tunnel) domains.delete(d);
    for (const p of o.ports) {
      const route = portRoutes.get(p);
      if (route?.tunnel === tunnel) {
        portRoutes.delete(p);
        if (!route.rule.private) closed.push(p);
      }
    }
    owned.delete(tunnel.tunnelId);
    return closed;
  };

  return {
    byId: (id) => tunnels.get(id),
    all: () => tunnels.values(),
    get size() {
      return tunnels.size;
    },
    add(tunnel) {
      tunnels.set(tunnel.tunnelId, tunnel);
    },
    remove(tunnel) {
      if (tunnels.get(tunnel.tunnelId) !== tunnel) return;
      clearRoutes(tunnel);
      tunnels.delete(tunnel.tunnelId);
    },
    setRoutes(tunnel, https, ports) {
      const before = new Set(clearRoutes(tunnel));
      const o = { domains: [] as string[], ports: [] as number[] };
      for (const rule of https) {
        domains.set(rule.domain, { tunnel, rule });
        o.domains.push(rule.domain);
      }
      const opened: number[] = [];
      for (const rule of ports) {
        if (!rule.forwarded) continue;
        portRoutes.set(rule.port, { tunnel, rule });
        o.ports.push(rule.port);
        if (rule.private) continue;
        if (!before.delete(rule.port)) opened.push(rule.port);
      }
      owned.set(tunnel.tunnelId, o);
      return { opened, closed: [...before] };
    },
    http: (domain) => domains.get(domain),
    port: (port) => portRoutes.get(port),
  };
}
