// Cluster state (lib/cluster/types.ts ClusterStore): the nodes' heartbeat rows with where
// peers reach them, and where each connected tunnel's client is now. Every write settles a
// race between nodes in its WHERE clause or by a primary key, never by reading first: a
// location is upserted on the tunnel id (the newest login wins), cleared only while it is
// still the clearing node's session, and a dead node's rows are removed by whichever
// survivor gets there first.
import { and, asc, eq, gt, inArray, isNotNull, isNull, ne, notInArray, or, sql } from "drizzle-orm";
import { CLUSTER_NODE_DEAD_MS, type ClusterNode, type ClusterStore, type TunnelLocation, type TunnelLocationStamp } from "../../lib/cluster/types.ts";
import type { HttpRuleAnnounce, PortRuleAnnounce } from "../../lib/tunnel/messages.ts";
import { httpServices, ports, serverHeartbeats, TUNNEL_STATE, tunnelLocations, tunnels } from "../schema.ts";
import { affectedRows, type Db } from "./_shared.ts";
import { HEARTBEAT_LIVE_WINDOW_MS } from "./heartbeats.ts";

/** Rows per `IN (...)` list: well under SQLite's and PostgreSQL's bound-parameter limits. */
const IN_CHUNK = 500;

export interface ClusterStoreOptions {
  /** Clock of heartbeats, location stamps and expiry (tests pin it). */
  now?: () => number;
}

export function createClusterStore(db: Db, opts: ClusterStoreOptions = {}): ClusterStore {
  const now = opts.now ?? Date.now;
  return {
    async heartbeat(node) {
      const at = new Date(now());
      await db
        .insert(serverHeartbeats)
        .values({ node: node.nodeId, started: new Date(node.startedAt), lastSeen: at, advertise: node.advertise, fingerprint: node.fingerprint })
        .onConflictDoUpdate({
          target: serverHeartbeats.node,
          set: { started: new Date(node.startedAt), lastSeen: at, advertise: node.advertise, fingerprint: node.fingerprint },
        });
    },

    liveNodes: (maxAgeMs) => liveClusterNodes(db, maxAgeMs, now()),

    async locationStamps() {
      const rows = await db
        .select({ tunnelId: tunnelLocations.tunnelId, nodeId: tunnelLocations.node, epoch: tunnelLocations.epoch, updated: tunnelLocations.updated })
        .from(tunnelLocations);
      return rows.map((r): TunnelLocationStamp => ({ tunnelId: r.tunnelId, nodeId: r.nodeId, epoch: r.epoch, updatedAt: r.updated.getTime() }));
    },

    async locations(tunnelIds) {
      const out: TunnelLocation[] = [];
      for (let i = 0; i < tunnelIds.length; i += IN_CHUNK) {
        const rows = await db.select().from(tunnelLocations).where(inArray(tunnelLocations.tunnelId, tunnelIds.slice(i, i + IN_CHUNK)));
        out.push(...rows.map(toLocation));
      }
      return out;
    },

    async saveLocation(location) {
      const row = {
        node: location.nodeId,
        epoch: location.epoch,
        userId: location.userId,
        userName: location.userName ?? "",
        hostname: location.hostname,
        https: JSON.stringify(location.https),
        ports: JSON.stringify(location.ports),
        updated: new Date(now()),
      };
      await db
        .insert(tunnelLocations)
        .values({ tunnelId: location.tunnelId, ...row })
        .onConflictDoUpdate({ target: tunnelLocations.tunnelId, set: row });
    },

    async clearLocation(tunnelId, nodeId, epoch) {
      await db
        .delete(tunnelLocations)
        .where(and(eq(tunnelLocations.tunnelId, tunnelId), eq(tunnelLocations.node, nodeId), eq(tunnelLocations.epoch, epoch)));
    },

    expireDeadNodes: (maxAgeMs) => expireDeadNodes(db, maxAgeMs, now()),
  };
}

function toLocation(r: typeof tunnelLocations.$inferSelect): TunnelLocation {
  return {
    tunnelId: r.tunnelId,
    nodeId: r.node,
    epoch: r.epoch,
    userId: r.userId,
    userName: r.userName,
    hostname: r.hostname,
    https: parseArray<HttpRuleAnnounce>(r.https),
    ports: parseArray<PortRuleAnnounce>(r.ports),
    updatedAt: r.updated.getTime(),
  };
}

function parseArray<T>(text: string): T[] {
  try {
    const v = JSON.parse(text);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/** Nodes of the cluster (they publish an advertise address) with a heartbeat newer than `maxAgeMs`. */
export async function liveClusterNodes(db: Db, maxAgeMs: number, now: number = Date.now()): Promise<ClusterNode[]> {
  const rows = await db
    .select()
    .from(serverHeartbeats)
    .where(and(gt(serverHeartbeats.lastSeen, new Date(now - maxAgeMs)), ne(serverHeartbeats.advertise, "")))
    .orderBy(asc(serverHeartbeats.node));
  return rows.map((r) => ({ nodeId: r.node, advertise: r.advertise, fingerprint: r.fingerprint, startedAt: r.started.getTime(), heartbeatAt: r.lastSeen.getTime() }));
}

/** Node ids with a heartbeat newer than the cutoff, as a subquery (evaluated inside each write). */
const liveNodeIds = (db: Db, cutoff: Date) => db.select({ node: serverHeartbeats.node }).from(serverHeartbeats).where(gt(serverHeartbeats.lastSeen, cutoff));

/**
 * Deletes the locations held by nodes without a heartbeat newer than `maxAgeMs` and marks
 * offline the tunnels those nodes held (tunnels.serverNode cleared, services inactive).
 * Each statement re-evaluates liveness itself, so a tunnel that logged in again on a live
 * node meanwhile (its location and serverNode now name that node) is left alone. Returns
 * how many tunnels were affected.
 */
export async function expireDeadNodes(db: Db, maxAgeMs: number, now: number = Date.now()): Promise<number> {
  const cutoff = new Date(now - maxAgeMs);
  return db.transaction(async (tx) => {
    const gone = await tx
      .delete(tunnelLocations)
      .where(notInArray(tunnelLocations.node, liveNodeIds(tx, cutoff)))
      .returning({ tunnelId: tunnelLocations.tunnelId });
    const offline = await tx
      .update(tunnels)
      .set({ state: TUNNEL_STATE.offline, connectedAt: null, uptime: 0, serverNode: null, lastActive: new Date(now), modified: new Date(now) })
      .where(and(eq(tunnels.state, TUNNEL_STATE.online), isNotNull(tunnels.serverNode), notInArray(tunnels.serverNode, liveNodeIds(tx, cutoff))))
      .returning({ id: tunnels.id });
    const offlineIds = offline.map((t) => t.id);
    for (let i = 0; i < offlineIds.length; i += IN_CHUNK) {
      const chunk = offlineIds.slice(i, i + IN_CHUNK);
      await tx.update(httpServices).set({ active: false }).where(inArray(httpServices.tunnelId, chunk));
      await tx.update(ports).set({ active: false }).where(inArray(ports.tunnelId, chunk));
    }
    return new Set([...gone.map((g) => g.tunnelId), ...offlineIds]).size;
  });
}

/** How many locations name `node`. */
export async function countNodeLocations(db: Db, node: string): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(tunnelLocations).where(eq(tunnelLocations.node, node));
  return row?.n ?? 0;
}

/**
 * Puts back a node's locations that are missing: the node's own connected tunnels after
 * the survivors expired it (its heartbeat could not reach the database for a while).
 * Insert-only, so a newer login of a tunnel elsewhere always keeps its row; the tunnels
 * restored are marked online on the node again unless another node holds them. Returns
 * how many were restored.
 */
export async function restoreLocations(db: Db, locations: Omit<TunnelLocation, "updatedAt">[], now: number = Date.now()): Promise<number> {
  let restored = 0;
  for (let i = 0; i < locations.length; i += IN_CHUNK) {
    const rows = locations.slice(i, i + IN_CHUNK).map((l) => ({
      tunnelId: l.tunnelId,
      node: l.nodeId,
      epoch: l.epoch,
      userId: l.userId,
      userName: l.userName ?? "",
      hostname: l.hostname,
      https: JSON.stringify(l.https),
      ports: JSON.stringify(l.ports),
      updated: new Date(now),
    }));
    const back = await db.insert(tunnelLocations).values(rows).onConflictDoNothing({ target: tunnelLocations.tunnelId }).returning({ tunnelId: tunnelLocations.tunnelId, node: tunnelLocations.node });
    for (const r of back) {
      await db
        .update(tunnels)
        .set({ state: TUNNEL_STATE.online, serverNode: r.node, connectedAt: sql`coalesce(${tunnels.connectedAt}, ${now})`, lastActive: new Date(now) })
        .where(and(eq(tunnels.id, r.tunnelId), inArray(tunnels.state, [TUNNEL_STATE.online, TUNNEL_STATE.offline]), or(isNull(tunnels.serverNode), eq(tunnels.serverNode, r.node))));
    }
    restored += back.length;
  }
  return restored;
}

/** At a clean stop: every location this node still holds goes (its tunnels were closed). */
export async function clearNodeLocations(db: Db, node: string): Promise<number> {
  return affectedRows(await db.delete(tunnelLocations).where(eq(tunnelLocations.node, node)));
}

/** One node of `spokes cluster ls`. */
export interface ClusterNodeStatus {
  nodeId: string;
  advertise: string;
  fingerprint: string;
  startedAt: number;
  heartbeatAt: number;
  /** Milliseconds since the last heartbeat. */
  heartbeatAgeMs: number;
  live: boolean;
  /** Tunnels whose location names this node. */
  tunnels: number;
}

/**
 * Every node with a heartbeat row or a location (a node that vanished without a row still
 * shows while it holds locations), by id. A cluster node (it publishes an advertise
 * address) is live while its heartbeat is younger than CLUSTER_NODE_DEAD_MS; a single-node
 * server's row keeps its 60 s window.
 */
export async function listClusterNodes(db: Db, now: number = Date.now()): Promise<ClusterNodeStatus[]> {
  const beats = await db.select().from(serverHeartbeats);
  const held = await db
    .select({ node: tunnelLocations.node, n: sql<number>`count(*)`.mapWith(Number) })
    .from(tunnelLocations)
    .groupBy(tunnelLocations.node);
  const count = new Map(held.map((h) => [h.node, h.n]));
  const out = new Map<string, ClusterNodeStatus>();
  for (const b of beats) {
    const age = Math.max(0, now - b.lastSeen.getTime());
    out.set(b.node, {
      nodeId: b.node,
      advertise: b.advertise,
      fingerprint: b.fingerprint,
      startedAt: b.started.getTime(),
      heartbeatAt: b.lastSeen.getTime(),
      heartbeatAgeMs: age,
      live: age < (b.advertise ? CLUSTER_NODE_DEAD_MS : HEARTBEAT_LIVE_WINDOW_MS),
      tunnels: count.get(b.node) ?? 0,
    });
  }
  for (const [node, n] of count) {
    if (!out.has(node)) out.set(node, { nodeId: node, advertise: "", fingerprint: "", startedAt: 0, heartbeatAt: 0, heartbeatAgeMs: -1, live: false, tunnels: n });
  }
  return [...out.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}
