// Allocated public TCP ports (table ports), listed with their tunnel's state.
import { asc, eq } from "drizzle-orm";
import { meshAccessOf } from "../../lib/client-config/mesh-access.ts";
import { ports, TUNNEL_STATE, tunnels, users } from "../schema.ts";
import type { Db } from "./_shared.ts";
import { bandwidthByTunnel, bandwidthOf, type Bandwidth } from "./bandwidth.ts";
import { tunnelUptime } from "./tunnels.ts";

export type PortRow = typeof ports.$inferSelect;

/** The port object of SPEC 2 (`--json`); online, uptime and bandwidth are the owning tunnel's. */
export interface PortAllocation {
  port: number;
  tunID: string;
  user: string;
  online: boolean;
  uptime: number;
  bandwidth: Bandwidth;
  /** Mesh only (no public listener), as the tunnel last announced it. */
  private: boolean;
  /** Who may reach it through the mesh; [] means any tunnel. */
  meshAllow: string[];
}

/** A tunnel's cached configuration (tunnels.config), parsed leniently. */
export function parseCachedConfig(text: string | null | undefined): Record<string, unknown> {
  try {
    const v = JSON.parse(text ?? "{}");
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

/** Every allocation, by port number. */
export async function listPortAllocations(db: Db, opts: { now?: number } = {}): Promise<PortAllocation[]> {
  const now = opts.now ?? Date.now();
  const rows = await db
    .select({ port: ports, tunnel: tunnels, email: users.email })
    .from(ports)
    .leftJoin(tunnels, eq(tunnels.id, ports.tunnelId))
    .leftJoin(users, eq(users.id, tunnels.userId))
    .orderBy(asc(ports.port));
  const bw = await bandwidthByTunnel(db, { now });
  return rows.map(({ port: p, tunnel: t, email }) => ({
    port: p.port,
    tunID: p.tunnelId,
    user: email ?? t?.userId ?? p.userId ?? "",
    online: t?.state === TUNNEL_STATE.online,
    uptime: t ? tunnelUptime(t, now) : 0,
    bandwidth: bandwidthOf(bw, p.tunnelId),
    ...meshAccessOf(parseCachedConfig(t?.config)).port(p.port),
  }));
}

/** Ports of one tunnel (Admin API `port/list` and the server's routing table). */
export async function listTunnelPorts(db: Db, tunnelId: string): Promise<PortRow[]> {
  return db.select().from(ports).where(eq(ports.tunnelId, tunnelId)).orderBy(asc(ports.port));
}
