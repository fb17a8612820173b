// The tunnels other nodes hold, as the routers see them: a RemoteTunnel per location,
// with the routes that node accepted for it, in a registry of their own (the same
// structure as the local one). Opening a stream on a RemoteTunnel opens a peer stream to
// its node, naming the tunnel and the epoch it was routed by.
import type { MuxStream } from "../mux/stream.ts";
import type { ServerStreamMeta } from "../tunnel/messages.ts";
import { createTunnelRegistry, type HttpRoute, type PortRoute, type RoutedTunnel } from "../tunnel/server/registry.ts";
import type { TunnelLoginInfo } from "../tunnel/server/server.ts";
import type { PeerStreamMeta, TunnelLocation } from "./types.ts";

export type PeerStreamOpener = (nodeId: string, meta: PeerStreamMeta) => MuxStream;

export class RemoteTunnel implements RoutedTunnel {
  /** Routed while its location stands; a missing peer link shows as openStream throwing. */
  readonly online = true;
  readonly login: TunnelLoginInfo;

  constructor(
    readonly location: TunnelLocation,
    private readonly open: PeerStreamOpener,
  ) {
    this.login = { tunnelId: location.tunnelId, userId: location.userId, userName: location.userName, hostname: location.hostname };
  }

  get tunnelId(): string {
    return this.location.tunnelId;
  }
  get userId(): string | null {
    return this.location.userId;
  }
  get nodeId(): string {
    return this.location.nodeId;
  }
  get epoch(): string {
    return this.location.epoch;
  }

  openStream(meta: ServerStreamMeta): MuxStream {
    return this.open(this.location.nodeId, { t: "peer", id: this.location.tunnelId, e: this.location.epoch, m: meta });
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

export function createRemoteRoutes(open: PeerStreamOpener): RemoteRoutes {
  const registry = createTunnelRegistry<RemoteTunnel>();
  const listenerPorts = new Map<string, number[]>();
  const remove = (tunnelId: string) => {
    const t = registry.byId(tunnelId);
    if (t) registry.remove(t);
    listenerPorts.delete(tunnelId);
  };
  return {
    byId: (id) => registry.byId(id),
    ids: () => [...registry.all()].map((t) => t.tunnelId)[Symbol.iterator](),
    set(location) {
      remove(location.tunnelId);
      const tunnel = new RemoteTunnel(location, open);
      registry.add(tunnel);
      const https = Array.isArray(location.https) ? location.https : [];
      const ports = Array.isArray(location.ports) ? location.ports : [];
      registry.setRoutes(tunnel, https, ports);
      listenerPorts.set(location.tunnelId, ports.filter((p) => p.forwarded && !p.private).map((p) => p.port));
    },
    remove,
    http: (domain) => registry.http(domain),
    port: (port) => registry.port(port),
    listenerPorts: () => new Set([...listenerPorts.values()].flat()),
  };
}
