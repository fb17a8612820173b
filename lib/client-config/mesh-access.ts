// Who may reach a tunnel's service through the mesh (ports map, a client's SOCKS proxy, a
// public SOCKS login with an auth token): the `meshAllow` list of a TCP port or HTTP rule,
// and `private` (mesh-only) ports. This file holds the entry grammar, shared by the CLI,
// the config validator, the dashboard and the Admin API; the server's check is in
// lib/tunnel/server/mesh-access.ts.
//
//   tunnel:<tunnel id>       one tunnel (32 lowercase hex characters)
//   user:<name or user id>   every tunnel of a tunnel user (the registration `--id`)
//
// An empty or absent list keeps the default: any tunnel may reach the service.
import { UserError } from "../errors.ts";

const TUNNEL_ENTRY = /^tunnel:([0-9a-f]{32})$/;
/** A tunnel user's name is stored as given at registration; no spaces, commas or control characters. */
const USER_ENTRY = /^user:([^\s,\x00-\x1f\x7f]{1,254})$/;

/** At most this many entries per service: an access list, not a directory. */
export const MAX_MESH_ALLOW = 256;

export const MESH_ALLOW_SYNTAX = "tunnel:<tunnel id> or user:<user name or id>";

/** The canonical spelling of an entry (ids lowercased), or undefined when it is malformed. */
export function normalizeMeshAllowEntry(value: string): string | undefined {
  const v = value.trim();
  const lower = v.toLowerCase();
  if (lower.startsWith("tunnel:")) return TUNNEL_ENTRY.test(lower) ? lower : undefined;
  if (lower.startsWith("user:")) {
    const name = v.slice(5);
    // A user id is lowercase hex; names keep their spelling (matched case-insensitively).
    return USER_ENTRY.test(`user:${name}`) ? `user:${/^[0-9a-fA-F]{32}$/.test(name) ? name.toLowerCase() : name}` : undefined;
  }
  return undefined;
}

/**
 * Checks and normalises a list; `describe(i, value)` names the bad entry in the error
 * (`--mesh-allow "bob"`, `config ports[0].meshAllow[1] ("bob")`). Duplicates are dropped.
 */
export function parseMeshAllow(values: readonly string[], describe: (index: number, value: string) => string): string[] {
  if (values.length > MAX_MESH_ALLOW) throw new UserError(`${describe(MAX_MESH_ALLOW, values[MAX_MESH_ALLOW]!)} is one entry too many (at most ${MAX_MESH_ALLOW})`);
  const out: string[] = [];
  values.forEach((value, i) => {
    const entry = normalizeMeshAllowEntry(value);
    if (!entry) throw new UserError(`${describe(i, value)} must be ${MESH_ALLOW_SYNTAX}`);
    if (!out.includes(entry)) out.push(entry);
  });
  return out;
}

/** A list typed by a person: entries separated by commas and/or whitespace. */
export function splitMeshAllow(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

export interface ServiceAccess {
  private: boolean;
  meshAllow: string[];
}

export interface MeshAccessTable {
  port(port: number): ServiceAccess;
  http(domain: string): ServiceAccess;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);

/**
 * The access settings of each service in a client configuration as announced or cached
 * (any shape: it came from a client), for listings, the dashboard and the Admin API.
 */
export function meshAccessOf(config: unknown): MeshAccessTable {
  const c = (config && typeof config === "object" ? config : {}) as { ports?: unknown; https?: unknown };
  const ports = new Map<number, ServiceAccess>();
  const https = new Map<string, ServiceAccess>();
  for (const p of Array.isArray(c.ports) ? c.ports : []) {
    if (p && typeof p === "object" && typeof p.port === "number") ports.set(p.port, { private: p.private === true, meshAllow: strings(p.meshAllow) });
  }
  for (const h of Array.isArray(c.https) ? c.https : []) {
    if (h && typeof h === "object" && typeof h.domain === "string") https.set(h.domain.toLowerCase(), { private: false, meshAllow: strings(h.meshAllow) });
  }
  const open: ServiceAccess = { private: false, meshAllow: [] };
  return {
    port: (port) => ports.get(port) ?? open,
    http: (domain) => https.get(domain.toLowerCase()) ?? open,
  };
}
