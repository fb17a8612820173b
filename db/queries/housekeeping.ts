// Housekeeping (SPEC 2.2): finds and fixes inconsistencies between tokens, tunnels and
// ports that a crash, an older version or a change made by another process can leave.
// `spokes clean` runs it once; the running server runs it periodically.
import { and, eq, inArray, isNull, lt, notExists, or, type SQL } from "drizzle-orm";
import { CLUSTER_NODE_DEAD_MS } from "../../lib/cluster/types.ts";
import { apikeys, httpServices, ports, serverHeartbeats, TUNNEL_STATE, TUNNEL_STATE_NAME, tunnelLocations, tunnels } from "../schema.ts";
import { ACTIVE_TUNNEL_STATES, affectedRows, type Db, type WriteResult } from "./_shared.ts";
import { liveServerNodes } from "./heartbeats.ts";

export type HousekeepingIssueKind =
  /** Tunnel in state 1–3 whose auth token is inactive → shut down (4). */
  | "tunnel-token-inactive"
  /** Tunnel marked online (2) with no live server holding its session → offline (3). */
  | "tunnel-stale-online"
  /** Port of a shut-down or deleted tunnel (4/5) → released. */
  | "port-tunnel-shutdown"
  /** Port of a tunnel whose auth token is inactive → released. */
  | "port-token-inactive"
  /** Port whose tunnel does not exist → released. */
  | "port-unknown-tunnel"
  /** Port outside the configured portRange → released. */
  | "port-out-of-range"
  /** Cluster: a location held by a node without a heartbeat in CLUSTER_NODE_DEAD_MS → removed, its tunnel offline. */
  | "location-dead-node"
  /** Cluster: a location of a tunnel that is deleted or does not exist → removed. */
  | "location-unknown-tunnel"
  /** Cluster: a location (older than the login grace) of a tunnel not marked online, e.g. a clear that failed → removed. */
  | "location-tunnel-offline"
  /** Cluster: a tunnel marked online that no node's location holds → offline. */
  | "tunnel-online-no-location";

export interface HousekeepingIssue {
  kind: HousekeepingIssueKind;
  tunnelId: string;
  /** Set for port issues. */
  port?: number;
  /** For stale-online issues: the node the tunnel claimed, so the fix does not touch a newer session. */
  serverNode?: string | null;
  /** For location issues: the location's node and epoch, so the fix does not touch a newer login. */
  location?: { node: string; epoch: string };
  /** One line for a person: what is wrong and what the fix does. */
  description: string;
}

export interface HousekeepingOptions {
  portRange: { begin: number; end: number };
  /** Cluster mode: an online tunnel must have a location (locations are checked either way). */
  cluster?: boolean;
  now?: number;
}

/** A tunnel that came online this recently may not have written its location yet (login in progress). */
const LOCATION_GRACE_MS = CLUSTER_NODE_DEAD_MS;

/**
 * Every inconsistency, at most one per tunnel and one per port, tunnels first then ports
 * by number. A token counts as inactive when the tunnel has tokens and none is active.
 */
export async function findHousekeepingIssues(db: Db, opts: HousekeepingOptions): Promise<HousekeepingIssue[]> {
  const now = opts.now ?? Date.now();
  const tokens = await db.select({ tunnelId: apikeys.tunnelId, active: apikeys.active }).from(apikeys);
  const tokenActive = new Map<string, boolean>();
  for (const t of tokens) if (t.tunnelId) tokenActive.set(t.tunnelId, (tokenActive.get(t.tunnelId) ?? false) || t.active);
  const tokenInactive = (tunnelId: string) => tokenActive.get(tunnelId) === false;
  const live = await liveServerNodes(db, now);

  const issues: HousekeepingIssue[] = [];
  const active = await db
    .select({ id: tunnels.id, state: tunnels.state, serverNode: tunnels.serverNode, connectedAt: tunnels.connectedAt })
    .from(tunnels)
    .where(inArray(tunnels.state, ACTIVE_TUNNEL_STATES))
    .orderBy(tunnels.id);
  const located = await clusterLocationIssues(db, now);
  const locatedIds = new Set((await db.select({ id: tunnelLocations.tunnelId }).from(tunnelLocations)).map((l) => l.id));
  const deadLocation = new Set(located.filter((i) => i.kind === "location-dead-node").map((i) => i.tunnelId));
  for (const t of active) {
    if (tokenInactive(t.id)) {
      issues.push({ kind: "tunnel-token-inactive", tunnelId: t.id, description: `tunnel ${t.id} (${TUNNEL_STATE_NAME[t.state]}) is still active but its auth token is inactive: shut down` });
    } else if (t.state !== TUNNEL_STATE.online || deadLocation.has(t.id)) {
      // not online, or its dead node's location (below) takes it offline
    } else if (!(t.serverNode ? live.has(t.serverNode) : live.size > 0)) {
      const why = t.serverNode ? `its server node ${t.serverNode} has no heartbeat in the last 60 s` : "no server has a heartbeat in the last 60 s";
      issues.push({ kind: "tunnel-stale-online", tunnelId: t.id, serverNode: t.serverNode, description: `tunnel ${t.id} is marked online but ${why}: mark offline` });
    } else if (opts.cluster && !locatedIds.has(t.id) && (t.connectedAt?.getTime() ?? 0) < now - LOCATION_GRACE_MS) {
      issues.push({ kind: "tunnel-online-no-location", tunnelId: t.id, serverNode: t.serverNode, description: `tunnel ${t.id} is marked online but no cluster node holds its connection: mark offline` });
    }
  }
  issues.push(...located);

  const allocated = await db
    .select({ port: ports.port, tunnelId: ports.tunnelId, state: tunnels.state })
    .from(ports)
    .leftJoin(tunnels, eq(tunnels.id, ports.tunnelId))
    .orderBy(ports.port);
  const { begin, end } = opts.portRange;
  for (const p of allocated) {
    const issue = (kind: HousekeepingIssueKind, what: string) =>
      issues.push({ kind, tunnelId: p.tunnelId, port: p.port, description: `port ${p.port} ${what}: release` });
    if (p.state === null) issue("port-unknown-tunnel", `is allocated to unknown tunnel ${p.tunnelId}`);
    else if (p.state === TUNNEL_STATE.shutdown || p.state === TUNNEL_STATE.deleted) issue("port-tunnel-shutdown", `is allocated to ${TUNNEL_STATE_NAME[p.state]!.toLowerCase()} tunnel ${p.tunnelId}`);
    else if (tokenInactive(p.tunnelId)) issue("port-token-inactive", `is allocated to tunnel ${p.tunnelId} whose auth token is inactive`);
    else if (p.port < begin || p.port > end) issue("port-out-of-range", `is outside the port range ${begin}-${end}`);
  }
  return issues;
}

/** Locations of deleted or unknown tunnels, and locations held by dead nodes, by tunnel id. */
async function clusterLocationIssues(db: Db, now: number): Promise<HousekeepingIssue[]> {
  const rows = await db
    .select({ tunnelId: tunnelLocations.tunnelId, node: tunnelLocations.node, epoch: tunnelLocations.epoch, updated: tunnelLocations.updated, state: tunnels.state })
    .from(tunnelLocations)
    .leftJoin(tunnels, eq(tunnels.id, tunnelLocations.tunnelId))
    .orderBy(tunnelLocations.tunnelId);
  if (!rows.length) return [];
  const beats = await db.select({ node: serverHeartbeats.node, lastSeen: serverHeartbeats.lastSeen }).from(serverHeartbeats);
  const liveNodes = new Set(beats.filter((b) => b.lastSeen.getTime() > now - CLUSTER_NODE_DEAD_MS).map((b) => b.node));
  const issues: HousekeepingIssue[] = [];
  for (const l of rows) {
    const location = { node: l.node, epoch: l.epoch };
    if (l.state === null || l.state === TUNNEL_STATE.deleted) {
      const what = l.state === null ? "unknown" : "deleted";
      issues.push({ kind: "location-unknown-tunnel", tunnelId: l.tunnelId, location, description: `node ${l.node} holds a location of ${what} tunnel ${l.tunnelId}: remove` });
    } else if (l.state !== TUNNEL_STATE.online && l.updated.getTime() < now - LOCATION_GRACE_MS) {
      const state = TUNNEL_STATE_NAME[l.state]!.toLowerCase();
      issues.push({ kind: "location-tunnel-offline", tunnelId: l.tunnelId, location, description: `node ${l.node} holds a location of ${state} tunnel ${l.tunnelId}: remove` });
    } else if (!liveNodes.has(l.node)) {
      issues.push({
        kind: "location-dead-node",
        tunnelId: l.tunnelId,
        location,
        description: `tunnel ${l.tunnelId} is located on node ${l.node}, which has no heartbeat in the last ${CLUSTER_NODE_DEAD_MS / 1000} s: remove the location, mark offline`,
      });
    }
  }
  return issues;
}

/**
 * Fixes `opts.issues` (or whatever findHousekeepingIssues finds now) in one transaction
 * and returns how many were fixed. Each fix re-checks its condition in the WHERE clause,
 * so a row that changed since it was found (a tunnel that reconnected, a port that was
 * reallocated) is left alone and not counted.
 */
export async function fixHousekeepingIssues(db: Db, opts: HousekeepingOptions & { issues?: HousekeepingIssue[] }): Promise<number> {
  const issues = opts.issues ?? (await findHousekeepingIssues(db, opts));
  if (!issues.length) return 0;
  const now = new Date(opts.now ?? Date.now());
  return db.transaction(async (tx) => {
    let fixed = 0;
    for (const issue of issues) {
      let res: WriteResult;
      if (issue.kind === "tunnel-token-inactive") {
        res = await tx
          .update(tunnels)
          .set({ state: TUNNEL_STATE.shutdown, modified: now })
          .where(and(eq(tunnels.id, issue.tunnelId), inArray(tunnels.state, ACTIVE_TUNNEL_STATES)));
      } else if (issue.kind === "tunnel-stale-online") {
        res = await markStillOnlineOffline(tx, issue, now);
      } else if (issue.kind === "tunnel-online-no-location") {
        res = await markStillOnlineOffline(
          tx,
          issue,
          now,
          and(
              or(isNull(tunnels.connectedAt), lt(tunnels.connectedAt, new Date(now.getTime() - LOCATION_GRACE_MS))),
              notExists(tx.select({ id: tunnelLocations.tunnelId }).from(tunnelLocations).where(eq(tunnelLocations.tunnelId, issue.tunnelId))),
            ),
          );
        if (affectedRows(res)) await deactivateServices(tx, issue.tunnelId);
      } else if (issue.kind === "location-dead-node" || issue.kind === "location-unknown-tunnel" || issue.kind === "location-tunnel-offline") {
        const { node, epoch } = issue.location!;
        const stillOffline =
          issue.kind === "location-tunnel-offline"
            ? notExists(tx.select({ id: tunnels.id }).from(tunnels).where(and(eq(tunnels.id, issue.tunnelId), eq(tunnels.state, TUNNEL_STATE.online))))
            : undefined;
        res = await tx
          .delete(tunnelLocations)
          .where(and(eq(tunnelLocations.tunnelId, issue.tunnelId), eq(tunnelLocations.node, node), eq(tunnelLocations.epoch, epoch), stillOffline));
        if (issue.kind === "location-dead-node" && affectedRows(res)) {
          const off = await tx
            .update(tunnels)
            .set({ state: TUNNEL_STATE.offline, connectedAt: null, uptime: 0, serverNode: null, modified: now })
            .where(and(eq(tunnels.id, issue.tunnelId), eq(tunnels.state, TUNNEL_STATE.online), or(eq(tunnels.serverNode, node), isNull(tunnels.serverNode))));
          if (affectedRows(off)) await deactivateServices(tx, issue.tunnelId);
        }
      } else {
        res = await tx.delete(ports).where(and(eq(ports.port, issue.port!), eq(ports.tunnelId, issue.tunnelId)));
      }
      fixed += affectedRows(res);
    }
    return fixed;
  });
}

async function deactivateServices(db: Db, tunnelId: string): Promise<void> {
  await db.update(httpServices).set({ active: false }).where(eq(httpServices.tunnelId, tunnelId));
  await db.update(ports).set({ active: false }).where(eq(ports.tunnelId, tunnelId));
}

/**
 * Marks a tunnel offline only while it is still online at the node the issue saw (and
 * `also` holds): a tunnel that came back meanwhile is left alone.
 */
async function markStillOnlineOffline(db: Db, issue: HousekeepingIssue, now: Date, also?: SQL): Promise<WriteResult> {
  return db
    .update(tunnels)
    .set({ state: TUNNEL_STATE.offline, connectedAt: null, uptime: 0, serverNode: null, modified: now })
    .where(
      and(
        eq(tunnels.id, issue.tunnelId),
        eq(tunnels.state, TUNNEL_STATE.online),
        issue.serverNode ? eq(tunnels.serverNode, issue.serverNode) : isNull(tunnels.serverNode),
        also,
      ),
    );
}
