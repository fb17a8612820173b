// A node of the cluster, assembled: the peer endpoint and links, the remote routes kept
// by the sync loop, and the composite route table the routers look up. Storage comes in
// through ClusterStore and the local tunnels through the tunnel server's registry, so
// this runs in tests over in-memory transports with a fake store.
import type { Logger } from "../log.ts";
import type { Clock } from "../clock.ts";
import type { KeepaliveOptions } from "../mux/session.ts";
import type { RouteTable } from "../tunnel/server/registry.ts";
import { createPeerEndpoint, type PeerEndpoint } from "./peer-endpoint.ts";
import { createPeerLinks, type HolderTunnel, type PeerConnector, type PeerLinks, type PeerStreamEnd } from "./peer-links.ts";
import { webSocketPeerConnector } from "./peer-connector.ts";
import { answerLiveRequest, createClusterLive, type LiveControl } from "./live-control.ts";
import { createRemoteRoutes, type RemoteRoutes } from "./remote-routes.ts";
import { createCompositeRoutes } from "./route-table.ts";
import { createClusterSync, type ClusterSync, type LocalTunnelView } from "./sync.ts";
import type { ClusterSettings, ClusterStore } from "./types.ts";

/** What the node needs of the tunnel server: its registry of live tunnels, and disconnect. */
export interface LocalTunnels {
  registry: RouteTable & {
    byId(tunnelId: string): (HolderTunnel & LocalTunnelView) | undefined;
    all(): Iterable<LocalTunnelView>;
  };
  disconnect(tunnelId: string, reason: string): void;
}

export interface ClusterNodeOptions {
  settings: ClusterSettings;
  store: Pick<ClusterStore, "liveNodes" | "locationStamps" | "locations">;
  tunnels: LocalTunnels;
  /** This node's own admin control of its tunnels: requests from other nodes run on it. */
  live?: LiveControl;
  /** The remote tunnels' listener ports after each change (lib/cluster/listener-ports.ts). */
  onRemotePorts(ports: Set<number>): void;
  /** Default: a pinned WebSocket over TLS to the node's advertise address. */
  connect?: PeerConnector;
  keepalive?: Partial<KeepaliveOptions> | false;
  backoff?: { minMs: number; maxMs: number };
  clock?: Clock;
  syncIntervalMs?: number;
  onPeerStream?(end: PeerStreamEnd, outcome: "opened" | "failed"): void;
  onWindowStall?(): void;
  log: Logger;
}

export interface ClusterNodeEngine {
  /** Local tunnels first, then the other nodes'. */
  routes: RouteTable;
  remote: RemoteRoutes;
  endpoint: PeerEndpoint;
  links: PeerLinks;
  sync: ClusterSync;
  /** Admin control of every tunnel of the cluster (given `live`): local ones here, the others through their holders. */
  live?: LiveControl;
  start(): void;
  stop(): void;
}

export function createClusterNode(opts: ClusterNodeOptions): ClusterNodeEngine {
  const { nodeId, secret } = opts.settings;
  const local = opts.live;
  const links = createPeerLinks({
    nodeId,
    connect: opts.connect ?? webSocketPeerConnector({ nodeId, secret }),
    localTunnel: (id) => opts.tunnels.registry.byId(id),
    answerLive: local ? (stream, request) => void answerLiveRequest(stream, request, local) : undefined,
    keepalive: opts.keepalive,
    backoff: opts.backoff,
    clock: opts.clock,
    onPeerStream: opts.onPeerStream,
    onWindowStall: opts.onWindowStall,
    log: opts.log,
  });
  const remote = createRemoteRoutes(links);
  const endpoint = createPeerEndpoint({ nodeId, secret, accept: (t, peer, address) => links.accept(t, peer, address), log: opts.log });
  const sync = createClusterSync({
    nodeId,
    store: opts.store,
    remote,
    onNodes: (nodes) => links.setNodes(nodes),
    onRemotePorts: opts.onRemotePorts,
    localTunnels: () => opts.tunnels.registry.all(),
    disconnect: (id, reason) => opts.tunnels.disconnect(id, reason),
    clock: opts.clock,
    intervalMs: opts.syncIntervalMs,
    log: opts.log,
  });
  return {
    routes: createCompositeRoutes(opts.tunnels.registry, remote),
    remote,
    endpoint,
    links,
    sync,
    live: local && createClusterLive({ nodeId, local, remote: (id) => remote.byId(id)?.location, linkedNodes: () => links.connectedNodes(), request: (node, r, ms) => links.request(node, r, ms), log: opts.log }),
    start: () => sync.start(),
    stop() {
      sync.stop();
      links.stop();
    },
  };
}
