// Queries the running server makes about live tunnel sessions: login, online/offline
// state, claimed domains and ports, cached rules, the node heartbeat, and stats batches.
import { and, eq, inArray, isNull, ne, notInArray, or, sql } from "drizzle-orm";
import type { Database } from "../client.ts";
import { addBandwidth } from "./bandwidth.ts";
import { recordHeartbeat, removeHeartbeat } from "./heartbeats.ts";
import { listTunnelPorts } from "./ports.ts";
import { isUniqueViolation } from "./_shared.ts";
import { newId } from "../ids.ts";
import { apikeys, connections, httpServices, ports, tunnels, TUNNEL_STATE, users, type TunnelState } from "../schema.ts";
import type { TrafficBatch } from "../../lib/stats/traffic-stats.ts";

export interface TunnelLogin {
  tunnelId: string;
  userId: string | null;
  /** The tunnel user's name (registration `id`), "" without a user. */
  userName: string;
  tokenId: string;
  hostname: string;
}

/** Checks an auth token for a tunnel login; returns the refusal reason the client prints. */
export async function checkTunnelLogin(db: Database, key: string): Promise<{ ok: true; login: TunnelLogin } | { ok: false; reason: string }> {
  const rows = await db
    .select({ token: apikeys, tunnel: tunnels, userName: users.email })
    .from(apikeys)
    .leftJoin(tunnels, eq(tunnels.id, apikeys.tunnelId))
    .leftJoin(users, eq(users.id, tunnels.userId))
    .where(eq(apikeys.value, key))
    .limit(1);
  const row = rows[0];
  if (!row) return { ok: false, reason: "unknown auth token" };
  if (!row.token.active) return { ok: false, reason: "auth token is inactive" };
  if (!row.tunnel) return { ok: false, reason: "auth token has no tunnel" };
  if (row.tunnel.state === TUNNEL_STATE.shutdown || row.tunnel.state === TUNNEL_STATE.deleted) {
    return { ok: false, reason: "tunnel has been shut down" };
  }
  return { ok: true, login: { tunnelId: row.tunnel.id, userId: row.tunnel.userId, userName: row.userName ?? "", tokenId: row.token.id, hostname: row.tunnel.hostname } };
}

export async function markTunnelOnline(
  db: Database,
  tunnelId: string,
  info: { address: string; os: string; arch: string; version: string; node: string },
): Promise<void> {
  const now = new Date();
  await db
    .update(tunnels)
    .set({ state: TUNNEL_STATE.online, address: info.address, os: info.os, arch: info.arch, version: info.version, serverNode: info.node, connectedAt: now, lastActive: now, uptime: 0, modified: now })
    .where(eq(tunnels.id, tunnelId));
}

/**
 * The tunnel's session on `node` ended. With `node`, a tunnel whose client meanwhile logged
 * in on another node (cluster mode: its row names that node) stays online there, services
 * included.
 */
export async function markTunnelOffline(db: Database, tunnelId: string, node?: string): Promise<void> {
  const now = new Date();
  const onNode = node ? or(eq(tunnels.serverNode, node), isNull(tunnels.serverNode)) : undefined;
  await db
    .update(tunnels)
    .set({ state: TUNNEL_STATE.offline, connectedAt: null, serverNode: null, lastActive: now, modified: now })
    .where(and(eq(tunnels.id, tunnelId), eq(tunnels.state, TUNNEL_STATE.online), onNode));
  if (node) {
    const [row] = await db.select({ state: tunnels.state, serverNode: tunnels.serverNode }).from(tunnels).where(eq(tunnels.id, tunnelId));
    if (row?.state === TUNNEL_STATE.online && row.serverNode && row.serverNode !== node) return;
  }
  await db.update(httpServices).set({ active: false }).where(eq(httpServices.tunnelId, tunnelId));
  await db.update(ports).set({ active: false }).where(eq(ports.tunnelId, tunnelId));
}

/** At stop (and at a cluster node's start, for what a previous run left): every tunnel this node served goes offline at once. */
export async function markNodeTunnelsOffline(db: Database, node: string): Promise<void> {
  const rows = await db.select({ id: tunnels.id }).from(tunnels).where(eq(tunnels.serverNode, node));
  for (const r of rows) await markTunnelOffline(db, r.id, node);
  await removeHeartbeat(db, node);
}

/** Refreshes this node's heartbeat and the uptime/last-active of its online tunnels. */
export async function refreshHeartbeat(db: Database, node: string, started: number, onlineTunnelIds: string[]): Promise<void> {
  const now = Date.now();
  await recordHeartbeat(db, node, { started: new Date(started), now: new Date(now) });
  if (onlineTunnelIds.length) {
    await db
      .update(tunnels)
      .set({ lastActive: new Date(now), uptime: sql`CASE WHEN ${tunnels.connectedAt} < ${now} THEN (${now} - ${tunnels.connectedAt}) / 1000 ELSE 0 END` })
      .where(inArray(tunnels.id, onlineTunnelIds));
  }
}

/** Of the given online tunnels, those whose token was deactivated or that were shut down (by the CLI or dashboard). */
export async function findRevokedTunnels(db: Database, tunnelIds: string[]): Promise<string[]> {
  if (!tunnelIds.length) return [];
  const rows = await db
    .select({ id: tunnels.id, state: tunnels.state, active: apikeys.active })
    .from(tunnels)
    .leftJoin(apikeys, eq(apikeys.tunnelId, tunnels.id))
    .where(inArray(tunnels.id, tunnelIds));
  const revoked = new Set<string>();
  const seen = new Set<string>();
  for (const r of rows) {
    seen.add(r.id);
    if (r.state === TUNNEL_STATE.shutdown || r.state === TUNNEL_STATE.deleted || r.active === false || r.active === null) revoked.add(r.id);
  }
  for (const id of tunnelIds) if (!seen.has(id)) revoked.add(id);
  return [...revoked];
}

/** The tunnel that holds an HTTP domain, if it is not `tunnelId` and still active. */
export async function findDomainOwner(db: Database, domain: string, tunnelId: string): Promise<string | null> {
  const rows = await db
    .select({ tunnelId: httpServices.tunnelId, state: tunnels.state })
    .from(httpServices)
    .innerJoin(tunnels, eq(tunnels.id, httpServices.tunnelId))
    .where(and(eq(httpServices.domain, domain), ne(httpServices.tunnelId, tunnelId)))
    .limit(1);
  const row = rows[0];
  if (!row || row.state === TUNNEL_STATE.shutdown || row.state === TUNNEL_STATE.deleted) return null;
  return row.tunnelId;
}

/** States in which a tunnel keeps its claims (a shut-down or deleted tunnel's domains are free). */
const CLAIMING_STATES: TunnelState[] = [TUNNEL_STATE.init, TUNNEL_STATE.online, TUNNEL_STATE.offline];

/**
 * Claims an HTTP domain for a tunnel; true when it is this tunnel's now. Settled by the
 * unique index on the domain, never by reading first: the insert wins or conflicts; a
 * conflicting row of a shut-down, deleted or unknown tunnel is taken over only while it
 * still names that holder (compare-and-swap), so two nodes claiming at once cannot both win.
 */
export async function claimDomain(db: Database, tunnel: { id: string; userId: string | null }, domain: string): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const inserted = await db
      .insert(httpServices)
      .values({ id: newId(), tunnelId: tunnel.id, userId: tunnel.userId, domain })
      .onConflictDoNothing({ target: httpServices.domain })
      .returning({ id: httpServices.id });
    if (inserted.length) return true;
    const [holder] = await db
      .select({ tunnelId: httpServices.tunnelId, state: tunnels.state })
      .from(httpServices)
      .leftJoin(tunnels, eq(tunnels.id, httpServices.tunnelId))
      .where(eq(httpServices.domain, domain))
      .limit(1);
    if (!holder) continue; // released meanwhile: insert again
    if (holder.tunnelId === tunnel.id) return true;
    if (holder.state !== null && CLAIMING_STATES.includes(holder.state)) return false;
    const taken = await db
      .update(httpServices)
      .set({ tunnelId: tunnel.id, userId: tunnel.userId, active: false, available: false, lastCheck: null, modified: new Date() })
      .where(and(eq(httpServices.domain, domain), eq(httpServices.tunnelId, holder.tunnelId)))
      .returning({ id: httpServices.id });
    if (taken.length) return true;
  }
  return false;
}

/** Stores the services a tunnel announced, so offline tunnels still show their rules. */
export async function saveAnnouncedServices(
  db: Database,
  tunnel: { id: string; userId: string | null },
  https: { domain: string; secure: boolean; available: boolean }[],
  forwardedPorts: { port: number; available: boolean }[],
  config: unknown,
): Promise<void> {
  const now = new Date();
  await db.transaction(async (tx) => {
    const domains = https.map((h) => h.domain);
    // A domain left by a shut-down, deleted or unknown tunnel may be taken over; an active
    // tunnel's claim is never overwritten (claimDomain settled who holds it).
    if (domains.length) {
      const claiming = tx.select({ id: tunnels.id }).from(tunnels).where(inArray(tunnels.state, CLAIMING_STATES));
      await tx.delete(httpServices).where(and(inArray(httpServices.domain, domains), ne(httpServices.tunnelId, tunnel.id), notInArray(httpServices.tunnelId, claiming)));
    }
    await tx.delete(httpServices).where(domains.length ? and(eq(httpServices.tunnelId, tunnel.id), notInArray(httpServices.domain, domains)) : eq(httpServices.tunnelId, tunnel.id));
    for (const h of https) {
      await tx
        .insert(httpServices)
        .values({ id: newId(), tunnelId: tunnel.id, userId: tunnel.userId, domain: h.domain, secure: h.secure, active: true, available: h.available, modified: now })
        .onConflictDoUpdate({ target: httpServices.domain, set: { secure: h.secure, active: true, available: h.available, modified: now }, setWhere: eq(httpServices.tunnelId, tunnel.id) });
    }
    await tx.update(ports).set({ active: false }).where(eq(ports.tunnelId, tunnel.id));
    for (const p of forwardedPorts) {
      await tx.update(ports).set({ active: true, available: p.available }).where(and(eq(ports.tunnelId, tunnel.id), eq(ports.port, p.port)));
    }
    await tx.update(tunnels).set({ config: JSON.stringify(config ?? {}), modified: now }).where(eq(tunnels.id, tunnel.id));
  });
}

/**
 * Picks a random free port of the range for a tunnel, within its `maxPorts` allowance.
 * The primary key on `port` settles a race between two servers: the loser retries. The
 * allowance is checked again after the insert (two allocations for one tunnel on two nodes
 * at once): an allocation that finds the tunnel over it gives its port back, so the limit
 * holds whatever the interleaving (at worst both give way and the caller tries again).
 */
export async function allocatePort(
  db: Database,
  tunnel: { id: string; userId: string | null },
  range: { begin: number; end: number },
  maxPorts: number,
  random: () => number = Math.random,
): Promise<{ ok: true; port: number } | { ok: false; reason: string }> {
  const owned = await listTunnelPorts(db, tunnel.id);
  if (owned.length >= maxPorts) return { ok: false, reason: `tunnel already holds the maximum of ${maxPorts} ports` };
  for (let attempt = 0; attempt < 5; attempt++) {
    const taken = new Set((await db.select({ port: ports.port }).from(ports)).map((r) => r.port));
    const free: number[] = [];
    for (let p = range.begin; p <= range.end; p++) if (!taken.has(p)) free.push(p);
    if (!free.length) return { ok: false, reason: "no free port left in the server's port range" };
    const port = free[Math.floor(random() * free.length)]!;
    try {
      await db.insert(ports).values({ port, id: newId(), tunnelId: tunnel.id, userId: tunnel.userId });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      continue; // taken by a concurrent allocation; look again
    }
    if ((await listTunnelPorts(db, tunnel.id)).length <= maxPorts) return { ok: true, port };
    await releasePort(db, tunnel.id, port);
    return { ok: false, reason: `tunnel already holds the maximum of ${maxPorts} ports` };
  }
  return { ok: false, reason: "could not allocate a port, try again" };
}

export async function releasePort(db: Database, tunnelId: string, port: number): Promise<boolean> {
  const rows = await db.delete(ports).where(and(eq(ports.tunnelId, tunnelId), eq(ports.port, port))).returning({ port: ports.port });
  return rows.length > 0;
}

const CONNECTION_ROWS_PER_INSERT = 200;

/** Writes one stats batch in a single transaction (bandwidth upserts + connection records). */
export async function writeTrafficBatch(db: Database, batch: TrafficBatch): Promise<void> {
  if (!batch.bandwidth.length && !batch.connections.length) return;
  await db.transaction(async (tx) => {
    // The batch keeps each delta's UTC day; midnight of that day lands in the same row.
    await addBandwidth(tx, batch.bandwidth.map((b) => ({ ...b, at: Date.parse(b.day) })));
    // Many rows per statement: with one INSERT per finished connection, the flush after
    // 1,000 short connections raised the server's RSS by ~40 MiB for seconds (by ~12 MiB
    // now). 9 columns x 200 rows stays far below the bound-parameter limits of SQLite
    // (32,766) and PostgreSQL (65,535).
    for (let i = 0; i < batch.connections.length; i += CONNECTION_ROWS_PER_INSERT) {
      const rows = batch.connections.slice(i, i + CONNECTION_ROWS_PER_INSERT).map((c) => ({ id: newId(), ...c, started: new Date(c.started) }));
      await tx.insert(connections).values(rows);
    }
  });
}

/** Monitoring reports (SPEC 2.3): the client's TCP checks of its upstreams, per service. */
export async function saveServiceAvailability(
  db: Database,
  tunnelId: string,
  services: { kind: "http" | "tcp"; name: string; available: boolean }[],
  at: Date = new Date(),
): Promise<void> {
  await db.transaction(async (tx) => {
    for (const s of services) {
      if (s.kind === "http") {
        await tx.update(httpServices).set({ available: s.available, lastCheck: at }).where(and(eq(httpServices.tunnelId, tunnelId), eq(httpServices.domain, s.name)));
      } else if (/^\d+$/.test(s.name)) {
        await tx.update(ports).set({ available: s.available, lastCheck: at }).where(and(eq(ports.tunnelId, tunnelId), eq(ports.port, Number(s.name))));
      }
    }
  });
}
