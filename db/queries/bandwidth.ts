// Bandwidth per tunnel, service and UTC day (table bandwidth_daily). Rows with
// service "" are the tunnel totals; others are per domain or per port number.
import { and, eq, gte, lte, sql, sum } from "drizzle-orm";
import { bandwidthDaily } from "../schema.ts";
import type { Db } from "./_shared.ts";

export interface Bandwidth {
  daily: number;
  monthly: number;
}

/** The `day` key of a time: `YYYY-MM-DD` in UTC. Sorts as text, so ranges compare as strings. */
export function dayKey(t: Date | number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function monthStart(t: Date | number): string {
  return `${dayKey(t).slice(0, 7)}-01`;
}

export interface BandwidthDelta {
  tunnelId: string;
  /** "" for the tunnel total, else a domain or a port number as text. */
  service: string;
  bytesIn: number;
  bytesOut: number;
  /** Defaults to now. */
  at?: Date | number;
}

/**
 * Adds byte counts to their day rows (insert or increment). The server batches deltas in
 * memory and calls this in one transaction every few seconds.
 */
export async function addBandwidth(db: Db, deltas: BandwidthDelta[]): Promise<void> {
  for (const d of deltas) {
    if (!d.bytesIn && !d.bytesOut) continue;
    await db
      .insert(bandwidthDaily)
      .values({ tunnelId: d.tunnelId, service: d.service, day: dayKey(d.at ?? Date.now()), bytesIn: d.bytesIn, bytesOut: d.bytesOut })
      .onConflictDoUpdate({
        target: [bandwidthDaily.tunnelId, bandwidthDaily.service, bandwidthDaily.day],
        set: { bytesIn: sql`${bandwidthDaily.bytesIn} + ${d.bytesIn}`, bytesOut: sql`${bandwidthDaily.bytesOut} + ${d.bytesOut}` },
      });
  }
}

async function totalsSince(db: Db, service: string, from: string, to: string): Promise<Map<string, number>> {
  const rows = await db
    .select({ tunnelId: bandwidthDaily.tunnelId, bytesIn: sum(bandwidthDaily.bytesIn), bytesOut: sum(bandwidthDaily.bytesOut) })
    .from(bandwidthDaily)
    .where(and(eq(bandwidthDaily.service, service), gte(bandwidthDaily.day, from), lte(bandwidthDaily.day, to)))
    .groupBy(bandwidthDaily.tunnelId);
  return new Map(rows.map((r) => [r.tunnelId, Number(r.bytesIn ?? 0) + Number(r.bytesOut ?? 0)]));
}

/**
 * Today's and this month's bytes (both directions) of every tunnel with traffic this
 * month, for `service` ("" = tunnel totals). Tunnels without traffic are absent.
 */
export async function bandwidthByTunnel(db: Db, opts: { now?: Date | number; service?: string } = {}): Promise<Map<string, Bandwidth>> {
  const now = opts.now ?? Date.now();
  const today = dayKey(now);
  const service = opts.service ?? "";
  const daily = await totalsSince(db, service, today, today);
  const monthly = await totalsSince(db, service, monthStart(now), today);
  const out = new Map<string, Bandwidth>();
  for (const [id, m] of monthly) out.set(id, { daily: daily.get(id) ?? 0, monthly: m });
  return out;
}

/** The entry for one tunnel, zero when it had no traffic this month. */
export function bandwidthOf(map: Map<string, Bandwidth>, tunnelId: string): Bandwidth {
  return map.get(tunnelId) ?? { daily: 0, monthly: 0 };
}

export interface DayBandwidth {
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  bytesIn: number;
  bytesOut: number;
}

const DAY_MS = 86_400_000;

/**
 * Bytes per UTC day over the last `days` days up to today (oldest first, days without
 * traffic as zeros), from the tunnel-total rows: of one tunnel, or of all tunnels.
 */
export async function dailyBandwidth(db: Db, opts: { tunnelId?: string; days?: number; now?: Date | number } = {}): Promise<DayBandwidth[]> {
  const now = new Date(opts.now ?? Date.now()).getTime();
  const count = opts.days ?? 30;
  const days = Array.from({ length: count }, (_, i) => dayKey(now - (count - 1 - i) * DAY_MS));
  const rows = await db
    .select({ day: bandwidthDaily.day, bytesIn: sum(bandwidthDaily.bytesIn), bytesOut: sum(bandwidthDaily.bytesOut) })
    .from(bandwidthDaily)
    .where(
      and(
        eq(bandwidthDaily.service, ""),
        gte(bandwidthDaily.day, days[0]!),
        lte(bandwidthDaily.day, days.at(-1)!),
        opts.tunnelId ? eq(bandwidthDaily.tunnelId, opts.tunnelId) : undefined,
      ),
    )
    .groupBy(bandwidthDaily.day);
  const byDay = new Map(rows.map((r) => [r.day, r]));
  return days.map((day) => ({ day, bytesIn: Number(byDay.get(day)?.bytesIn ?? 0), bytesOut: Number(byDay.get(day)?.bytesOut ?? 0) }));
}
