// Edits of the traffic rules in a loaded ClientConfig. Pure functions over the object
// (no I/O), shared by the CLI and by `start`'s quick mode; they throw UserError for
// edits that make no sense (unknown domain, port not allocated, duplicate listener).
import { UserError } from "../errors.ts";
import type { ClientConfig, FirewallRule, HttpRule, PortMap, PortRule } from "./types.ts";

/**
 * Adds the rule, or replaces the rule for the same domain. Returns true when it replaced one.
 * A replacement without `meshAllow` keeps the old rule's list: an edit that does not know
 * about access lists (an older Admin API client) must not open the site to every tunnel.
 */
export function upsertHttpRule(config: ClientConfig, rule: HttpRule): boolean {
  const i = config.https.findIndex((r) => r.domain === rule.domain);
  const kept = i >= 0 ? config.https[i]!.meshAllow : undefined;
  const next: HttpRule = rule.meshAllow === undefined && kept?.length ? { ...rule, meshAllow: kept } : { ...rule };
  // An empty list is the default (any tunnel): not written to the file.
  if (!next.meshAllow?.length) delete next.meshAllow;
  if (i >= 0) config.https[i] = next;
  else config.https.push(next);
  return i >= 0;
}

export function removeHttpRule(config: ClientConfig, domain: string): HttpRule {
  const i = config.https.findIndex((r) => r.domain === domain.toLowerCase());
  if (i < 0) throw new UserError(`no HTTP rule for ${domain}`);
  return config.https.splice(i, 1)[0]!;
}

/** Records a port the server allocated to this tunnel (not forwarded yet); `private`: mesh only. */
export function addAllocatedPort(config: ClientConfig, port: number, isPrivate = false): void {
  if (!config.ports.some((p) => p.port === port)) config.ports.push({ port, destination: "", dstPort: 0, firewall: [], ...(isPrivate ? { private: true } : {}) });
}

/**
 * Sets what is given of a port's mesh access (`private`, `meshAllow`) and keeps the rest.
 * An empty list is dropped from the file: it means the default, any tunnel.
 */
export function setPortAccess(rule: PortRule, access: { private?: boolean; meshAllow?: string[] }): void {
  if (access.private !== undefined) {
    if (access.private) rule.private = true;
    else delete rule.private;
  }
  if (access.meshAllow !== undefined) {
    if (access.meshAllow.length) rule.meshAllow = access.meshAllow;
    else delete rule.meshAllow;
  }
}

/** The port's rule; throws when the port is not allocated to this tunnel. */
export function requireAllocatedPort(config: ClientConfig, port: number): PortRule {
  const rule = config.ports.find((p) => p.port === port);
  if (!rule) {
    const known = config.ports.map((p) => p.port).join(", ");
    throw new UserError(`port ${port} is not allocated to this tunnel (${known ? `allocated: ${known}` : "allocate one with pktriot tunnel tcp allocate"})`);
  }
  return rule;
}

export function setPortForward(config: ClientConfig, port: number, destination: string, dstPort: number, firewall: FirewallRule[]): void {
  const rule = requireAllocatedPort(config, port);
  rule.destination = destination;
  rule.dstPort = dstPort;
  rule.firewall = firewall;
}

/** Stops forwarding but keeps the allocation (the port stays this tunnel's, with its mesh access settings). */
export function clearPortForward(config: ClientConfig, port: number): void {
  const rule = requireAllocatedPort(config, port);
  if (!rule.destination) throw new UserError(`port ${port} is not forwarded`);
  rule.destination = "";
  rule.dstPort = 0;
  rule.firewall = [];
}

export function removeAllocatedPort(config: ClientConfig, port: number): void {
  requireAllocatedPort(config, port);
  config.ports = config.ports.filter((p) => p.port !== port);
}

/** What already listens on 127.0.0.1:port in this client, for a clear conflict message. */
function localListener(config: ClientConfig, port: number): string | undefined {
  if (config.portmaps.some((m) => m.listenPort === port)) return `port mapping ${port}`;
  if (config.socks.listenPort === port) return "the SOCKS proxy";
  if (config.monitor.port === port) return "the monitor";
  return undefined;
}

export function addPortMap(config: ClientConfig, map: PortMap): void {
  const taken = localListener(config, map.listenPort);
  if (taken) throw new UserError(`local port ${map.listenPort} is already used by ${taken}${taken.startsWith("port mapping") ? ` (remove it first with pktriot ports rm ${map.listenPort})` : ""}`);
  config.portmaps.push(map);
}

export function removePortMap(config: ClientConfig, listenPort: number): PortMap {
  const i = config.portmaps.findIndex((m) => m.listenPort === listenPort);
  if (i < 0) throw new UserError(`no port mapping on local port ${listenPort}`);
  return config.portmaps.splice(i, 1)[0]!;
}

export function setSocksListener(config: ClientConfig, port: number): void {
  const taken = config.socks.listenPort === port ? undefined : localListener(config, port);
  if (taken) throw new UserError(`local port ${port} is already used by ${taken}`);
  config.socks.listenPort = port;
}

export function removeSocksListener(config: ClientConfig): number {
  const port = config.socks.listenPort;
  if (!port) throw new UserError("no SOCKS proxy is configured");
  config.socks.listenPort = 0;
  return port;
}

/** Firewall entries in the order given, numbered from 1 (SPEC 3.1: applied in sequence). */
export function firewallRules(entries: { action: "allow" | "drop"; network: string }[]): FirewallRule[] {
  return entries.map((e, i) => ({ sequence: i + 1, action: e.action, network: e.network }));
}
