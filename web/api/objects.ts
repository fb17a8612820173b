// The Admin API's JSON objects, field for field as the original Spokes Admin API sends
// them (existing clients decode them strictly): ids 32-hex, times RFC 3339, numbers as
// numbers. Go clients decode an unset time as the zero time, so that is what we send.
import type { Database } from "../../db/client.ts";
import type { RegistrationToken } from "../../db/queries/registration-tokens.ts";
import { bandwidthByService, cachedTunnelConfigs, listHttpServices, listPortServices, serviceKey } from "../../db/queries/tunnel-details.ts";
import { meshAccessOf } from "../../lib/client-config/mesh-access.ts";
import { tunnelClientFields, type TunnelClientFields, type TunnelInfo } from "../../db/queries/tunnels.ts";

export const ZERO_TIME = "0001-01-01T00:00:00Z";
export const ZERO_ID = "0".repeat(32);

/** RFC 3339 in UTC, without milliseconds (as Go's time.Time marshals whole seconds). */
export function rfc3339(d: Date | number | null | undefined): string {
  if (d === null || d === undefined) return ZERO_TIME;
  const t = new Date(d);
  if (Number.isNaN(t.getTime())) return ZERO_TIME;
  return t.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface BandwidthJson {
  daily: number;
  monthly: number;
}

export interface HttpServiceJson {
  id: string;
  userID: string;
  tunID: string;
  active: boolean;
  available: boolean;
  secure: boolean;
  domainName: string;
  bandwidth: BandwidthJson;
  /** Extension: who may reach the site through the mesh ([] = any tunnel). */
  meshAllow: string[];
}

export interface PortServiceJson {
  id: string;
  userID: string;
  tunID: string;
  active: boolean;
  available: boolean;
  /** 1 TCP, 2 UDP (the original's constants). */
  protocol: number;
  port: number;
  bandwidth: BandwidthJson;
  label: string;
  /** Extension: mesh only, no public listener. */
  private: boolean;
  /** Extension: who may reach the port through the mesh ([] = any tunnel). */
  meshAllow: string[];
}

export interface TunnelJson extends TunnelClientFields {
  id: string;
  userID: string;
  created: string;
  lastActive: string;
  state: number;
  uptime: number;
  bandwidth: BandwidthJson;
  /** Extension (cluster mode): the node holding the tunnel's connection now, "" when none. */
  node: string;
  https?: HttpServiceJson[];
  ports?: PortServiceJson[];
}

export function tunnelJson(t: TunnelInfo): TunnelJson {
  return {
    id: t.id,
    userID: t.userID || ZERO_ID,
    created: rfc3339(t.created),
    lastActive: rfc3339(t.lastActive),
    state: t.state,
    uptime: t.uptime,
    bandwidth: { daily: t.bandwidth.daily, monthly: t.bandwidth.monthly },
    ...tunnelClientFields(t),
    node: t.node,
  };
}

/** Tunnel objects with their `https[]` and `ports[]` services (three queries for the whole list). */
export async function tunnelsWithDetails(db: Database, list: TunnelInfo[], now = Date.now()): Promise<TunnelJson[]> {
  const ids = list.map((t) => t.id);
  const [https, ports, bw, configs] = await Promise.all([
    listHttpServices(db, ids),
    listPortServices(db, ids),
    bandwidthByService(db, { tunnelIds: ids, now }),
    cachedTunnelConfigs(db, ids),
  ]);
  const zero = { daily: 0, monthly: 0 };
  return list.map((t) => {
    const access = meshAccessOf(configs.get(t.id));
    return {
    ...tunnelJson(t),
    https: https
      .filter((h) => h.tunnelId === t.id)
      .map((h) => ({
        id: h.id,
        userID: h.userId || ZERO_ID,
        tunID: h.tunnelId,
        active: h.active,
        available: h.available,
        secure: h.secure,
        domainName: h.domain,
        bandwidth: bw.get(serviceKey(t.id, h.domain)) ?? zero,
        meshAllow: access.http(h.domain).meshAllow,
      })),
    ports: ports
      .filter((p) => p.tunnelId === t.id)
      .map((p) => ({
        id: p.id,
        userID: p.userId || ZERO_ID,
        tunID: p.tunnelId,
        active: p.active,
        available: p.available,
        protocol: 1,
        port: p.port,
        bandwidth: bw.get(serviceKey(t.id, p.port)) ?? zero,
        label: p.label,
        ...access.port(p.port),
      })),
    };
  });
}

export interface TokenJson {
  id: string;
  created: string;
  modified: string;
  active: boolean;
  description: string;
  value: string;
}

export function tokenJson(t: Pick<RegistrationToken, "id" | "created" | "modified" | "active" | "description" | "value">): TokenJson {
  return { id: t.id, created: rfc3339(t.created), modified: rfc3339(t.modified), active: t.active, description: t.description, value: t.value };
}
