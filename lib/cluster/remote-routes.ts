// The tunnels other nodes hold, as the routers see them: a RemoteTunnel per location,
// with the routes that node accepted for it, in a registry of their own (the same
// structure as the local one). Opening a stream on a RemoteTunnel opens a peer stream to
// its node, naming the tunnel and the epoch it was routed by.
import type { MuxStream } from "../mux/stream.ts";
import type { ServerStreamMeta } from "../tunnel/messages.ts";
import { createTunnelRegistry, type HttpRoute, type PortRoute, type RoutedTunnel } from "../tunnel/server/registry.ts";
import type { TunnelLoginInfo } from "../tunnel/server/server.ts";
import type { PeerLinks } from "./peer-links.ts";
import type { TunnelLocation } from "./types.ts";

/** What a remote tunnel needs of the peer links. */
export type PeerChannel = Pick<PeerLinks, "openStream">;

export class RemoteTunnel implements RoutedTunnel {
  /** Routed while its location stands; a missing peer link shows as openStream throwing. */
  readonly online = true;

  constructor(
    private current: TunnelLocation,
    private readonly peers: PeerChannel,
  ) {}

  get location(): TunnelLocation {
    return this.current;
  }
  get login(): TunnelLoginInfo {
    const l = this.current;
    return { tunnelId: l.tunnelId, userId: l.userId, userName: l.userName, hostname: l.hostname };
  }

  get tunnelId(): string {
    return this.current.tunnelId;
  }
  get userId(): string | null {
    return this.current.userId;
  }
  get nodeId(): string {
    return this.current.nodeId;
  }
  get epoch(): string {
    return this.current.epoch;
  }

  /** A newer row of the same login (its rules changed): the routers keep the same object. */
  update(location: TunnelLocation): void {
    this.current = location;
  }

  openStream(meta: ServerStreamMeta): MuxStream {
    return this.peers.openStream(this.current.nodeId, { t: "peer", id: this.current.tunnelId, e: this.current.epoch, m: meta });
  }
}

export interface RemoteRoutes {
  byId(tunnelId: string): RemoteTunnel | undefined;
  ids(): IterableIterator<string>;
  /** Routes a location (replacing the tunnel's previous one). */
  set(location: TunnelLocation): void;
  remove(tunnelId: string): void;
  http(domain: string): HttpRoute<RemoteTunnel> | undefined;
  port(port: number): PortRoute<RemoteTunnel> | undefined;
  /** Forwarded, non-private ports of remote tunnels: every node listens on them. */
  listenerPorts(): Set<number>;
}

export function createRemoteRoutes(peers: PeerChannel): RemoteRoutes {
  const registry = createTunnelRegistry<RemoteTunnel>();
  /** Kept from the registry's own answers: it alone decides which ports get a public listener. */
  const listenerPorts = new Set<number>();
  const applyPorts = ({ opened, closed }: { opened: number[]; closed: number[] }) => {
    for (const p of closed) listenerPorts.delete(p);
    for (const p of opened) listenerPorts.add(p);
  };
  const remove = (tunnelId: string) => {
    const t = registry.byId(tunnelId);
    if (!t) return;
    applyPorts(registry.setRoutes(t, [], []));
    registry.remove(t);
  };
  return {
    byId: (id) => registry.byId(id),
    ids: () => [...registry.all()].map((t) => t.tunnelId)[Symbol.iterator](),
    set(location) {
      // The same login keeps its object (an HTTP keep-alive connection bound to it goes on);
      // a login elsewhere or a newer one is another tunnel session.
      let tunnel = registry.byId(location.tunnelId);
      if (tunnel && tunnel.nodeId === location.nodeId && tunnel.epoch === location.epoch) tunnel.update(location);
      else {
        remove(location.tunnelId);
        tunnel = new RemoteTunnel(location, peers);
        registry.add(tunnel);
      }
      const https = Array.isArray(location.https) ? location.https : [];
      const ports = Array.isArray(location.ports) ? location.ports : [];
      applyPorts(registry.setRoutes(tunnel, https, ports));
    },
    remove,
    http: (domain) => registry.http(domain),
    port: (port) => registry.port(port),
    listenerPorts: () => new Set(listenerPorts),
  };
}
