// Housekeeping (SPEC 2.2): finds and fixes inconsistencies between tokens, tunnels and
// ports that a crash, an older version or a change made by another process can leave.
// `spokes clean` runs it once; the running server runs it periodically.
import { and, eq, inArray, isNull } from "drizzle-orm";
import { apikeys, ports, TUNNEL_STATE, TUNNEL_STATE_NAME, tunnels } from "../schema.ts";
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
  | "port-out-of-range";

export interface HousekeepingIssue {
  kind: HousekeepingIssueKind;
  tunnelId: string;
  /** Set for port issues. */
  port?: number;
  /** For stale-online issues: the node the tunnel claimed, so the fix does not touch a newer session. */
  serverNode?: string | null;
  /** One line for a person: what is wrong and what the fix does. */
  description: string;
}

export interface HousekeepingOptions {
  portRange: { begin: number; end: number };
  now?: number;
}

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
    .select({ id: tunnels.id, state: tunnels.state, serverNode: tunnels.serverNode })
    .from(tunnels)
    .where(inArray(tunnels.state, ACTIVE_TUNNEL_STATES))
    .orderBy(tunnels.id);
  for (const t of active) {
    if (tokenInactive(t.id)) {
      issues.push({ kind: "tunnel-token-inactive", tunnelId: t.id, description: `tunnel ${t.id} (${TUNNEL_STATE_NAME[t.state]}) is still active but its auth token is inactive: shut down` });
    } else if (t.state === TUNNEL_STATE.online && !(t.serverNode ? live.has(t.serverNode) : live.size > 0)) {
      const why = t.serverNode ? `its server node ${t.serverNode} has no heartbeat in the last 60 s` : "no server has a heartbeat in the last 60 s";
      issues.push({ kind: "tunnel-stale-online", tunnelId: t.id, serverNode: t.serverNode, description: `tunnel ${t.id} is marked online but ${why}: mark offline` });
    }
  }

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
        res = await tx
          .update(tunnels)
          .set({ state: TUNNEL_STATE.offline, connectedAt: null, uptime: 0, serverNode: null, modified: now })
          .where(
            and(
              eq(tunnels.id, issue.tunnelId),
              eq(tunnels.state, TUNNEL_STATE.online),
              issue.serverNode ? eq(tunnels.serverNode, issue.serverNode) : isNull(tunnels.serverNode),
            ),
          );
      } else {
        res = await tx.delete(ports).where(and(eq(ports.port, issue.port!), eq(ports.tunnelId, issue.tunnelId)));
      }
      fixed += affectedRows(res);
    }
    return fixed;
  });
}
