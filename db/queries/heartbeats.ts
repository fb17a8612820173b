// Server liveness (SPEC 2.2 "How the CLI knows whether a server is live"): each running
// server node refreshes its row every few seconds; another process (the CLI, another
// node) treats a node as gone once its row is older than the live window.
import { eq, gt } from "drizzle-orm";
import { serverHeartbeats } from "../schema.ts";
import type { Db } from "./_shared.ts";

/** A node whose heartbeat is older than this is not live. */
export const HEARTBEAT_LIVE_WINDOW_MS = 60_000;

export async function recordHeartbeat(db: Db, node: string, opts: { started?: Date; now?: Date } = {}): Promise<void> {
  const now = opts.now ?? new Date();
  await db
    .insert(serverHeartbeats)
    .values({ node, started: opts.started ?? now, lastSeen: now })
    .onConflictDoUpdate({ target: serverHeartbeats.node, set: { lastSeen: now, ...(opts.started && { started: opts.started }) } });
}

/** A server that stops cleanly removes its row, so the CLI need not wait out the window. */
export async function removeHeartbeat(db: Db, node: string): Promise<void> {
  await db.delete(serverHeartbeats).where(eq(serverHeartbeats.node, node));
}

/** Nodes with a heartbeat newer than the live window. */
export async function liveServerNodes(db: Db, now: number = Date.now()): Promise<Set<string>> {
  const rows = await db
    .select({ node: serverHeartbeats.node })
    .from(serverHeartbeats)
    .where(gt(serverHeartbeats.lastSeen, new Date(now - HEARTBEAT_LIVE_WINDOW_MS)));
  return new Set(rows.map((r) => r.node));
}
