// Remote management of a client's traffic rules (SPEC 2.3 "Remote management"): the
// changes an admin makes in the dashboard or the Admin API, as the server sends them to
// the online client inside `{type:"apply", requestId, change}`. The server validates with
// parseRemoteChange before sending; the client parses again (never trust the wire), calls
// applyRemoteChange, saves the result and re-announces its rules.
import { UserError } from "../errors.ts";
import { addAllocatedPort, addPortMap, removeHttpRule, removePortMap, setPortAccess, upsertHttpRule } from "./rules.ts";
import type { ClientConfig, HttpRule, PortMap, PortRule } from "./types.ts";
import { validateClientConfig } from "./validate.ts";

export type RemoteChange =
  /** Adds each site, or replaces the site with the same domain (a site without `meshAllow` keeps the old list). */
  | { kind: "http/update"; sites: HttpRule[] }
  | { kind: "http/remove"; domains: string[] }
  /** The server allocated this port to the tunnel (no forward yet). */
  | { kind: "tcp/add"; port: number }
  /** The port goes back to the server: the rule is dropped, forward and all. */
  | { kind: "tcp/release"; port: number }
  /** Sets the forward of each (allocated) port; `private` and `meshAllow` when given. */
  | { kind: "tcp/update"; ports: PortRule[] }
  /** Clears the forward of each port, keeping the allocation. */
  | { kind: "tcp/reset"; ports: number[] }
  /** Adds each port mapping, or replaces the one on the same local port. */
  | { kind: "portmap/update"; portmaps: PortMap[] }
  | { kind: "portmap/remove"; listenPorts: number[] };

export type RemoteChangeKind = RemoteChange["kind"];
export const REMOTE_CHANGE_KINDS: readonly RemoteChangeKind[] = [
  "http/update",
  "http/remove",
  "tcp/add",
  "tcp/release",
  "tcp/update",
  "tcp/reset",
  "portmap/update",
  "portmap/remove",
];

/** At most this many items in one change: a remote edit is a few rules, not a bulk import. */
const MAX_ITEMS = 256;

type Obj = Record<string, unknown>;

function list(raw: Obj, key: string): unknown[] {
  const v = raw[key];
  if (!Array.isArray(v)) throw new UserError(`${key} must be an array`);
  if (v.length === 0) throw new UserError(`${key} must not be empty`);
  if (v.length > MAX_ITEMS) throw new UserError(`${key} holds more than ${MAX_ITEMS} entries`);
  return v;
}

function portNumber(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) throw new UserError(`${field} (${JSON.stringify(v)}) must be an integer between 1 and 65535`);
  return v;
}

/**
 * Runs the client configuration validator on a partial config and rewrites its field
 * names (`config https[0].port ...` → `sites[0].port ...`) for the API caller.
 */
function validated<K extends "https" | "ports" | "portmaps">(key: K, items: unknown[], label: string): ClientConfig[K] {
  try {
    return validateClientConfig({ [key]: items })[key];
  } catch (err) {
    if (err instanceof UserError) throw new UserError(err.message.replace(new RegExp(`^config ${key}`), label));
    throw err;
  }
}

function uniq<T>(values: T[], what: string): T[] {
  const seen = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) throw new UserError(`${what} ${JSON.stringify(v)} is listed twice`);
    seen.add(v);
  }
  return values;
}

/** Checks and normalises a change (from the API, a form, or the wire). Throws UserError. */
export function parseRemoteChange(raw: unknown): RemoteChange {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new UserError("change must be an object");
  const o = raw as Obj;
  switch (o.kind) {
    case "http/update": {
      const sites = validated("https", list(o, "sites"), "sites");
      sites.forEach((s, i) => {
        if (!s.port && !s.tls && !s.httpsUpstream && !s.webRoot && !s.redirectURL) throw new UserError(`sites[${i}] needs a port, a tls port, a webRoot or a redirectURL`);
      });
      uniq(sites.map((s) => s.domain), "domain");
      return { kind: "http/update", sites };
    }
    case "http/remove": {
      const domains = list(o, "domains").map((d, i) => {
        if (typeof d !== "string" || !d.trim()) throw new UserError(`domains[${i}] must be a non-empty string`);
        return d.trim().toLowerCase();
      });
      return { kind: "http/remove", domains: uniq(domains, "domain") };
    }
    case "tcp/add":
    case "tcp/release":
      return { kind: o.kind, port: portNumber(o.port, "port") };
    case "tcp/update": {
      const ports = validated("ports", list(o, "ports"), "ports");
      ports.forEach((p, i) => {
        if (!p.destination) throw new UserError(`ports[${i}].destination is required`);
      });
      uniq(ports.map((p) => p.port), "port");
      return { kind: "tcp/update", ports };
    }
    case "tcp/reset":
      return { kind: "tcp/reset", ports: uniq(list(o, "ports").map((p, i) => portNumber(p, `ports[${i}]`)), "port") };
    case "portmap/update": {
      const portmaps = validated("portmaps", list(o, "portmaps"), "portmaps");
      return { kind: "portmap/update", portmaps };
    }
    case "portmap/remove":
      return { kind: "portmap/remove", listenPorts: uniq(list(o, "listenPorts").map((p, i) => portNumber(p, `listenPorts[${i}]`)), "listen port") };
    default:
      throw new UserError(`unknown change kind ${JSON.stringify(o.kind)} (expected one of ${REMOTE_CHANGE_KINDS.join(", ")})`);
  }
}

/**
 * The configuration with the change applied. Pure: `config` is not modified. The result is
 * validated as a whole (no duplicate domains, no clashing local listeners); a change that
 * makes no sense for this config (removing an unknown domain) throws UserError.
 */
export function applyRemoteChange(config: ClientConfig, change: RemoteChange): ClientConfig {
  const next = structuredClone(config);
  const c = parseRemoteChange(change);
  switch (c.kind) {
    case "http/update":
      for (const site of c.sites) upsertHttpRule(next, site);
      break;
    case "http/remove":
      for (const d of c.domains) removeHttpRule(next, d);
      break;
    case "tcp/add":
      addAllocatedPort(next, c.port);
      break;
    case "tcp/release":
      // The server has the last word on allocations: an unknown port is already gone.
      next.ports = next.ports.filter((p) => p.port !== c.port);
      break;
    case "tcp/update":
      for (const rule of c.ports) {
        // The server checked the allocation; a client that missed the allocation learns it here.
        addAllocatedPort(next, rule.port);
        const p = next.ports.find((x) => x.port === rule.port)!;
        p.destination = rule.destination;
        p.dstPort = rule.dstPort;
        p.firewall = rule.firewall;
        // Left out by the caller (an older Admin API client): kept as they are.
        setPortAccess(p, rule);
      }
      break;
    case "tcp/reset":
      for (const port of c.ports) {
        const p = next.ports.find((x) => x.port === port);
        if (!p) throw new UserError(`port ${port} is not allocated to this tunnel`);
        p.destination = "";
        p.dstPort = 0;
        p.firewall = [];
      }
      break;
    case "portmap/update":
      for (const m of c.portmaps) {
        next.portmaps = next.portmaps.filter((x) => x.listenPort !== m.listenPort);
        addPortMap(next, m);
      }
      break;
    case "portmap/remove":
      for (const p of c.listenPorts) removePortMap(next, p);
      break;
  }
  return validateClientConfig(next);
}
