// Wires the cluster engine (lib/cluster) into a running server when cluster mode is on:
// the peer endpoint next to the tunnel endpoints (Bun.serve and the front door), the
// peer links and the sync loop over the node's ClusterStore, the composite route table
// the routers look up, the remote half of the TCP listener union, the metrics, and what
// the web app (dashboard, Admin API, client API) knows of tunnels held by other nodes.
import type { Server, WebSocketHandler } from "bun";
import { createClusterNode, type ClusterNodeEngine } from "../../lib/cluster/cluster-node.ts";
import type { LiveControl } from "../../lib/cluster/live-control.ts";
import type { ListenerPorts } from "../../lib/cluster/listener-ports.ts";
import type { ClusterSettings, ClusterStore } from "../../lib/cluster/types.ts";
import type { Logger } from "../../lib/log.ts";
import type { KeepaliveOptions } from "../../lib/mux/session.ts";
import type { RouteTable } from "../../lib/tunnel/server/registry.ts";
import type { TunnelServer } from "../../lib/tunnel/server/server.ts";
import type { ServerMetrics } from "./metrics.ts";

export interface ClusterPeeringDeps {
  settings: ClusterSettings;
  store: ClusterStore;
  tunnels: TunnelServer;
  /** This node's own admin control of its tunnels (the web app's `live`); the engine's `live` spans the cluster. */
  live?: LiveControl;
  /** The TCP listener union; remote tunnels' ports go in here. */
  listenerPorts: ListenerPorts;
  metrics: Pick<ServerMetrics, "peerStream" | "windowStall">;
  keepalive?: Partial<KeepaliveOptions>;
  log: Logger;
}

export interface ClusterPeering {
  engine: ClusterNodeEngine;
  /** Local tunnels first, then the other nodes'. */
  routes: RouteTable;
  /** The tunnel endpoints plus the peer endpoint, for the front door's own-domain upgrades. */
  endpoints: Pick<TunnelServer, "admit">;
  /** For Bun.serve's fetch: the peer endpoint's answer, or undefined when the request is not for it. */
  handle(req: Request, server: Server<unknown>, address: string): { response: Response | undefined } | undefined;
  /** The tunnel server's WebSocket handler, extended to run peer links too. */
  websocket<T>(inner: WebSocketHandler<T>): WebSocketHandler<T>;
  stop(): void;
}

export function startClusterPeering(deps: ClusterPeeringDeps): ClusterPeering {
  const { tunnels, log } = deps;
  const engine = createClusterNode({
    settings: deps.settings,
    store: deps.store,
    tunnels,
    live: deps.live,
    onRemotePorts: (ports) => deps.listenerPorts.setRemote(ports),
    keepalive: deps.keepalive,
    onPeerStream: deps.metrics.peerStream,
    onWindowStall: deps.metrics.windowStall,
    log,
  });
  engine.start();
  log.info(`cluster node ${deps.settings.nodeId}: peer links to every live node, routes synced every second`);
  return {
    engine,
    routes: engine.routes,
    endpoints: {
      admit: async (req, address) => engine.endpoint.admit(req, address) ?? tunnels.admit(req, address),
    },
    handle(req, server, address) {
      if (!engine.endpoint.matches(new URL(req.url))) return undefined;
      return { response: engine.endpoint.handle(req, server, address) };
    },
    websocket: (inner) => engine.endpoint.websocket(inner),
    stop: () => engine.stop(),
  };
}
