// What /healthz and /metrics ask the database: one real read (a reachable database
// answers it, a broken file or a lost libSQL server does not) and the tunnels by state.
import { count } from "drizzle-orm";
import { TUNNEL_STATE, tunnels } from "../schema.ts";
import type { Db } from "./_shared.ts";

/** A cheap read through the same connection the server uses; throws when the database cannot answer. */
export async function pingDatabase(db: Db): Promise<void> {
  await db.select({ n: count() }).from(tunnels);
}

const STATE_NAMES = Object.fromEntries(Object.entries(TUNNEL_STATE).map(([name, n]) => [n, name])) as Record<number, string>;

/** Number of tunnels per state name (init, online, offline, shutdown, deleted), zero-filled. */
export async function countTunnelsByState(db: Db): Promise<Record<string, number>> {
  const rows = await db.select({ state: tunnels.state, n: count() }).from(tunnels).groupBy(tunnels.state);
  const out: Record<string, number> = Object.fromEntries(Object.keys(TUNNEL_STATE).map((k) => [k, 0]));
  for (const r of rows) out[STATE_NAMES[r.state] ?? String(r.state)] = Number(r.n);
  return out;
}
