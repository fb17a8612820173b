// Reads the dashboard and the Admin API need beyond the CLI's listings: search, a
// tunnel's cached services and configuration, its connection records and bandwidth per
// service (domain or port).
import { and, asc, desc, eq, gte, inArray, like, lte, or, sql, sum, type AnyColumn } from "drizzle-orm";
import { bandwidthDaily, connections, httpServices, ports, tunnelLocations, tunnels, users, type TunnelState } from "../schema.ts";
import { ACTIVE_TUNNEL_STATES, VISIBLE_TUNNEL_STATES, assertId, type Db } from "./_shared.ts";
import { bandwidthByTunnel, bandwidthOf, dayKey, type Bandwidth } from "./bandwidth.ts";
import { parseCachedConfig } from "./ports.ts";
import { toTunnelInfo, type TunnelInfo } from "./tunnels.ts";

export interface TunnelSearch {
  /** Matches id, name, hostname, address, and the user's email or id (substring, case-insensitive). */
  term?: string;
  os?: string;
  arch?: string;
  version?: string;
  userId?: string;
  /** Which states: "visible" (1–4, default), "active" (1–3) or "online" (2). */
  scope?: "visible" | "active" | "online";
  now?: number;
}

/** `%` and `_` typed by a person are literal characters, not wildcards. */
function likeLiteral(s: string): string {
  return `%${s.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** Tunnels matching every given criterion, oldest first. */
export async function searchTunnels(db: Db, q: TunnelSearch = {}): Promise<TunnelInfo[]> {
  const now = q.now ?? Date.now();
  const states: TunnelState[] = q.scope === "online" ? [2] : q.scope === "active" ? ACTIVE_TUNNEL_STATES : VISIBLE_TUNNEL_STATES;
  const term = q.term?.trim();
  const lower = (col: unknown) => sql`lower(${col})`;
  const termMatch = term
    ? or(
        ...[tunnels.id, tunnels.name, tunnels.hostname, tunnels.address, users.email, tunnels.userId].map(
          (col) => sql`${lower(col)} like ${likeLiteral(term)} escape '\\'`,
        ),
      )
    : undefined;
  const exact = (col: AnyColumn, v: string | undefined) => (v?.trim() ? sql`lower(${col}) = ${v.trim().toLowerCase()}` : undefined);
  const rows = await db
    .select({ tunnel: tunnels, email: users.email, node: tunnelLocations.node })
    .from(tunnels)
    .leftJoin(users, eq(users.id, tunnels.userId))
    .leftJoin(tunnelLocations, eq(tunnelLocations.tunnelId, tunnels.id))
    .where(
      and(
        inArray(tunnels.state, states),
        termMatch,
        exact(tunnels.os, q.os),
        exact(tunnels.arch, q.arch),
        q.version?.trim() ? like(tunnels.version, `${q.version.trim()}%`) : undefined,
        q.userId ? eq(tunnels.userId, q.userId) : undefined,
      ),
    )
    .orderBy(asc(tunnels.created), asc(tunnels.id));
  const bw = await bandwidthByTunnel(db, { now });
  return rows.map(({ tunnel: t, email, node }) => toTunnelInfo(t, email, bandwidthOf(bw, t.id), now, node));
}

/** The distinct OS, arch and version values of visible tunnels, for the search form. */
export async function tunnelFacets(db: Db): Promise<{ os: string[]; arch: string[]; version: string[] }> {
  const rows = await db
    .selectDistinct({ os: tunnels.os, arch: tunnels.arch, version: tunnels.version })
    .from(tunnels)
    .where(inArray(tunnels.state, VISIBLE_TUNNEL_STATES));
  const uniq = (vals: string[]) => [...new Set(vals.filter(Boolean))].sort();
  return { os: uniq(rows.map((r) => r.os)), arch: uniq(rows.map((r) => r.arch)), version: uniq(rows.map((r) => r.version)) };
}

export type HttpServiceRow = typeof httpServices.$inferSelect;
export type PortServiceRow = typeof ports.$inferSelect;

export async function listHttpServices(db: Db, tunnelIds: string[]): Promise<HttpServiceRow[]> {
  if (!tunnelIds.length) return [];
  return db.select().from(httpServices).where(inArray(httpServices.tunnelId, tunnelIds)).orderBy(asc(httpServices.domain));
}

export async function listPortServices(db: Db, tunnelIds: string[]): Promise<PortServiceRow[]> {
  if (!tunnelIds.length) return [];
  return db.select().from(ports).where(inArray(ports.tunnelId, tunnelIds)).orderBy(asc(ports.port));
}

/** The traffic configuration the client last announced (SPEC 3.1 shape), `{}` when never. */
export async function cachedTunnelConfig(db: Db, tunnelId: string): Promise<Record<string, unknown>> {
  const [row] = await db.select({ config: tunnels.config }).from(tunnels).where(eq(tunnels.id, assertId(tunnelId, "tunnel id"))).limit(1);
  return parseCachedConfig(row?.config);
}

/** The cached configurations of several tunnels, by tunnel id. */
export async function cachedTunnelConfigs(db: Db, tunnelIds: string[]): Promise<Map<string, Record<string, unknown>>> {
  if (!tunnelIds.length) return new Map();
  const rows = await db.select({ id: tunnels.id, config: tunnels.config }).from(tunnels).where(inArray(tunnels.id, tunnelIds));
  return new Map(rows.map((r) => [r.id, parseCachedConfig(r.config)]));
}

export type ConnectionRow = typeof connections.$inferSelect;

/** The most recent connection records of a tunnel, newest first. */
export async function listConnections(db: Db, tunnelId: string, limit = 50): Promise<ConnectionRow[]> {
  return db.select().from(connections).where(eq(connections.tunnelId, tunnelId)).orderBy(desc(connections.started)).limit(limit);
}

/**
 * Today's and this month's bytes per tunnel and service (a domain or a port number as
 * text), keyed `tunnelId + " " + service`. The "" service (tunnel totals) is left out.
 */
export async function bandwidthByService(db: Db, opts: { tunnelIds?: string[]; now?: number } = {}): Promise<Map<string, Bandwidth>> {
  const now = opts.now ?? Date.now();
  const today = dayKey(now);
  const month = `${today.slice(0, 7)}-01`;
  const rows = await db
    .select({
      tunnelId: bandwidthDaily.tunnelId,
      service: bandwidthDaily.service,
      day: bandwidthDaily.day,
      bytes: sum(sql`${bandwidthDaily.bytesIn} + ${bandwidthDaily.bytesOut}`),
    })
    .from(bandwidthDaily)
    .where(
      and(
        gte(bandwidthDaily.day, month),
        lte(bandwidthDaily.day, today),
        sql`${bandwidthDaily.service} <> ''`,
        opts.tunnelIds ? inArray(bandwidthDaily.tunnelId, opts.tunnelIds) : undefined,
      ),
    )
    .groupBy(bandwidthDaily.tunnelId, bandwidthDaily.service, bandwidthDaily.day);
  const out = new Map<string, Bandwidth>();
  for (const r of rows) {
    const key = serviceKey(r.tunnelId, r.service);
    const b = out.get(key) ?? { daily: 0, monthly: 0 };
    const n = Number(r.bytes ?? 0);
    b.monthly += n;
    if (r.day === today) b.daily += n;
    out.set(key, b);
  }
  return out;
}

export function serviceKey(tunnelId: string, service: string | number): string {
  return `${tunnelId} ${service}`;
}

/** Tunnel users (origin Tunnel Registration) with how many visible tunnels each has. */
export async function listTunnelUsers(db: Db): Promise<{ id: string; email: string; tunnels: number }[]> {
  const rows = await db
    .select({ id: users.id, email: users.email, n: sql<number>`count(${tunnels.id})` })
    .from(users)
    .innerJoin(tunnels, and(eq(tunnels.userId, users.id), inArray(tunnels.state, VISIBLE_TUNNEL_STATES)))
    .groupBy(users.id, users.email)
    .orderBy(asc(users.email));
  return rows.map((r) => ({ id: r.id, email: r.email, tunnels: Number(r.n) }));
}
