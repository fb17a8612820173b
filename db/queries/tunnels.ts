// Tunnels: listings in the Admin API's tunnel shape, and shutdown (SPEC 2.3: token
// inactive, state shutdown, ports released; the server disconnects the client when it
// notices the change).
import { and, asc, eq, inArray } from "drizzle-orm";
import { UserError } from "../../lib/errors.ts";
import { apikeys, ports, TUNNEL_STATE, tunnelLocations, tunnels, users, type TunnelState } from "../schema.ts";
import { ACTIVE_TUNNEL_STATES, affectedRows, assertId, VISIBLE_TUNNEL_STATES, type Db } from "./_shared.ts";
import { bandwidthByTunnel, bandwidthOf, type Bandwidth } from "./bandwidth.ts";

export type TunnelRow = typeof tunnels.$inferSelect;

/** What the client reported about itself, passed unchanged from the row to every tunnel object. */
export type TunnelClientFields = Pick<TunnelRow, "name" | "hostname" | "address" | "version" | "os" | "arch">;

/** The client fields in the Admin API's key order. */
export function tunnelClientFields(t: TunnelClientFields): TunnelClientFields {
  return { name: t.name, hostname: t.hostname, address: t.address, version: t.version, os: t.os, arch: t.arch };
}

/** The Admin API's tunnel object plus `online` and `user` (email, else id), as `--json` prints it. */
export interface TunnelInfo extends TunnelClientFields {
  id: string;
  userID: string;
  created: Date;
  lastActive: Date | null;
  state: TunnelState;
  /** Seconds in the current session; 0 unless online. */
  uptime: number;
  bandwidth: Bandwidth;
  online: boolean;
  user: string;
  /** Cluster mode: the node the tunnel's client is connected to now ("" when none or outside a cluster). */
  node: string;
}

/** Current-session seconds: from connectedAt when known, else the server's last refresh. */
export function tunnelUptime(t: Pick<TunnelRow, "state" | "uptime" | "connectedAt">, now: number): number {
  if (t.state !== TUNNEL_STATE.online) return 0;
  if (t.connectedAt) return Math.max(0, Math.floor((now - t.connectedAt.getTime()) / 1000));
  return t.uptime;
}

export interface ListTunnelsOptions {
  /** Only online tunnels (state 2). */
  online?: boolean;
  /** Include shut-down tunnels (all visible states, 1–4); default is active ones (1–3). */
  all?: boolean;
  userId?: string;
  now?: number;
}

/** Oldest first. */
export async function listTunnels(db: Db, opts: ListTunnelsOptions = {}): Promise<TunnelInfo[]> {
  const now = opts.now ?? Date.now();
  const states = opts.online ? [TUNNEL_STATE.online] : opts.all ? VISIBLE_TUNNEL_STATES : ACTIVE_TUNNEL_STATES;
  const rows = await db
    .select({ tunnel: tunnels, email: users.email, node: tunnelLocations.node })
    .from(tunnels)
    .leftJoin(users, eq(users.id, tunnels.userId))
    .leftJoin(tunnelLocations, eq(tunnelLocations.tunnelId, tunnels.id))
    .where(and(inArray(tunnels.state, states), opts.userId ? eq(tunnels.userId, opts.userId) : undefined))
    .orderBy(asc(tunnels.created), asc(tunnels.id));
  const bw = await bandwidthByTunnel(db, { now });
  return rows.map((r) => toTunnelInfo(r.tunnel, r.email, bandwidthOf(bw, r.tunnel.id), now, r.node));
}

export async function getTunnel(db: Db, id: string, now = Date.now()): Promise<TunnelInfo> {
  const [r] = await db
    .select({ tunnel: tunnels, email: users.email, node: tunnelLocations.node })
    .from(tunnels)
    .leftJoin(users, eq(users.id, tunnels.userId))
    .leftJoin(tunnelLocations, eq(tunnelLocations.tunnelId, tunnels.id))
    .where(eq(tunnels.id, assertId(id, "tunnel id")))
    .limit(1);
  if (!r || r.tunnel.state === TUNNEL_STATE.deleted) throw new UserError(`no tunnel with id ${id}`);
  return toTunnelInfo(r.tunnel, r.email, bandwidthOf(await bandwidthByTunnel(db, { now }), id), now, r.node);
}

/** `node`: the node of the tunnel's location (cluster mode), null without one. */
export function toTunnelInfo(t: TunnelRow, email: string | null, bandwidth: Bandwidth, now: number, node: string | null = null): TunnelInfo {
  return {
    id: t.id,
    userID: t.userId ?? "",
    created: t.created,
    lastActive: t.lastActive,
    state: t.state,
    uptime: tunnelUptime(t, now),
    bandwidth,
    ...tunnelClientFields(t),
    online: t.state === TUNNEL_STATE.online,
    user: email ?? t.userId ?? "",
    node: node ?? "",
  };
}

/**
 * Shuts tunnels down in one transaction: their auth tokens deactivated, active states
 * (1–3) set to 4, their ports released. Returns how many tunnels changed state.
 */
export async function shutdownTunnels(db: Db, tunnelIds: string[]): Promise<number> {
  if (!tunnelIds.length) return 0;
  const now = new Date();
  return db.transaction(async (tx) => {
    await tx.update(apikeys).set({ active: false, modified: now }).where(and(inArray(apikeys.tunnelId, tunnelIds), eq(apikeys.active, true)));
    const res = await tx
      .update(tunnels)
      .set({ state: TUNNEL_STATE.shutdown, modified: now })
      .where(and(inArray(tunnels.id, tunnelIds), inArray(tunnels.state, ACTIVE_TUNNEL_STATES)));
    await tx.delete(ports).where(inArray(ports.tunnelId, tunnelIds));
    return affectedRows(res);
  });
}

/** The dashboard's and the Admin API's shutdown of one tunnel. */
export async function shutdownTunnel(db: Db, id: string): Promise<void> {
  await getTunnel(db, id);
  await shutdownTunnels(db, [id]);
}
