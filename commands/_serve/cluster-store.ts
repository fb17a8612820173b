// A cluster node's share of the database (cluster mode, `cluster.secret` set): its
// heartbeat row with the address peers dial and the fingerprint of the certificate they
// will find there, its tunnels' locations (written by the tunnel server hooks through
// login-policy.ts), and the sweep by which survivors expire the locations and online
// tunnels of a node that stopped heartbeating. The peer engine (lib/cluster) reads the
// same state through `store`.
import type { Database } from "../../db/client.ts";
import { clearNodeLocations, countNodeLocations, createClusterStore, restoreLocations } from "../../db/queries/cluster.ts";
import { markNodeTunnelsOffline } from "../../db/queries/live.ts";
import { CLUSTER_HEARTBEAT_MS, CLUSTER_NODE_DEAD_MS, type ClusterSettings, type ClusterStore } from "../../lib/cluster/types.ts";
import { errorMessage } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import { sha256Fingerprint } from "../../lib/tls/certificates.ts";
import type { LiveTunnel } from "../../lib/tunnel/server/server.ts";
import type { TunnelLocations } from "./login-policy.ts";

export interface ClusterMembershipDeps {
  db: Database;
  settings: ClusterSettings;
  /** When this node started (its heartbeat row's `started`). */
  started: number;
  /** PEM of the certificate this node serves for its own domain now (peers pin its fingerprint). */
  certificatePem(): string;
  log: Logger;
  /** Test hooks: timer periods. */
  heartbeatMs?: number;
  deadAfterMs?: number;
}

export interface ClusterMembership {
  settings: ClusterSettings;
  /** The store the peer engine polls and the hooks write through. */
  store: ClusterStore;
  /** For createLoginPolicy: this node's tunnels' locations. */
  locations: TunnelLocations;
  /**
   * The node's connected tunnels: after each heartbeat, those whose location went missing
   * (the survivors expired this node while its database connection was down) are put back.
   */
  watch(connected: () => LiveTunnel[]): void;
  /** Stops the timers (a start that failed after joining). */
  halt(): void;
  /** Stops the timers and clears this node's locations (its tunnels are closed by then). */
  stop(): Promise<void>;
}

/**
 * Joins the cluster: removes what a previous run under the same node id left (locations,
 * tunnels marked online here), then writes the first heartbeat, so the node is live before
 * its listeners accept a tunnel; then heartbeats and sweeps dead nodes every
 * CLUSTER_HEARTBEAT_MS.
 */
export async function startClusterMembership(deps: ClusterMembershipDeps): Promise<ClusterMembership> {
  const { db, settings, log } = deps;
  const node = settings.nodeId;
  const heartbeatMs = deps.heartbeatMs ?? CLUSTER_HEARTBEAT_MS;
  const deadAfterMs = deps.deadAfterMs ?? CLUSTER_NODE_DEAD_MS;
  const store = createClusterStore(db);

  const previous = (await store.liveNodes(deadAfterMs)).find((n) => n.nodeId === node);
  if (previous) {
    log.warn(`cluster node id ${node} had a heartbeat ${Math.round((Date.now() - previous.heartbeatAt) / 1000)} s ago: if another node runs with this id, give each node its own cluster.nodeId`);
  }
  const left = await clearNodeLocations(db, node);
  await markNodeTunnelsOffline(db, node);
  if (left) log.info(`cluster: cleared ${left} tunnel location(s) a previous run of node ${node} left`);

  const writeHeartbeat = () => store.heartbeat({ nodeId: node, advertise: settings.advertise, fingerprint: sha256Fingerprint(deps.certificatePem()), startedAt: deps.started });
  let connected: () => LiveTunnel[] = () => [];
  const beat = async () => {
    await writeHeartbeat();
    const local = connected();
    if (local.length && local.length > (await countNodeLocations(db, node))) {
      const n = await restoreLocations(db, local.map(locationOf));
      if (n > 0) log.warn(`cluster: put back ${n} location(s) of this node's tunnels (the node had been taken for dead)`);
    }
  };
  await writeHeartbeat();
  log.info(`cluster node ${node}: peers reach it at ${settings.advertise}`);

  const safely = (what: string, fn: () => Promise<unknown>) => () => void fn().catch((err) => log.warn(`cluster ${what} failed: ${errorMessage(err)}`));
  const timers = [
    setInterval(safely("heartbeat", beat), heartbeatMs),
    setInterval(
      safely("dead-node sweep", async () => {
        const n = await store.expireDeadNodes(deadAfterMs);
        if (n > 0) log.info(`cluster: ${n} tunnel(s) of node(s) without a heartbeat for ${deadAfterMs / 1000} s marked offline`);
      }),
      heartbeatMs,
    ),
  ];

  const halt = () => {
    for (const t of timers) clearInterval(t);
  };

  const locationOf = (t: LiveTunnel) => ({
    tunnelId: t.tunnelId,
    nodeId: node,
    epoch: t.session,
    userId: t.login.userId,
    userName: t.login.userName ?? "",
    hostname: t.login.hostname,
    https: t.https,
    ports: t.ports,
  });

  return {
    settings,
    store,
    locations: {
      save: (t) => store.saveLocation(locationOf(t)),
      clear: (t) => store.clearLocation(t.tunnelId, node, t.session),
    },
    watch(fn) {
      connected = fn;
    },
    halt,
    async stop() {
      halt();
      await clearNodeLocations(db, node);
    },
  };
}
