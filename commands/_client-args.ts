// Parsing of the values client commands take: ports, destinations, firewall flags.
import { normalizeNetwork, isDestination, firewallRules, parseMeshAllow, splitMeshAllow, type FirewallRule } from "../lib/client-config/index.ts";
import { UserError } from "../lib/errors.ts";

/** A port given as `--flag N` (or a positional, named as `name`). */
export function portArg(value: unknown, name: string): number {
  if (value === undefined || value === "" || value === true) throw new UserError(`${name} needs a port number`, 2);
  const text = String(value).trim();
  if (!/^\d+$/.test(text)) throw new UserError(`${name} must be a port number (got ${JSON.stringify(text)})`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new UserError(`${name} (${n}) must be between 1 and 65535`);
  return n;
}

export function optionalPortArg(value: unknown, name: string): number {
  return value === undefined ? 0 : portArg(value, name);
}

export function destinationArg(value: unknown, name: string, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "string" || !value.trim()) throw new UserError(`${name} needs a host name or IP address`, 2);
  const v = value.trim().toLowerCase();
  if (!isDestination(v)) throw new UserError(`${name} ${JSON.stringify(v)} is not a valid host name or IP address`);
  return v;
}

export const firewallArgs = {
  allow: { type: "string", description: "Allow visitors from this network (CIDR or address); repeatable, applied in order", valueHint: "CIDR" },
  drop: { type: "string", description: "Drop visitors from this network (CIDR or address); repeatable, applied in order", valueHint: "CIDR" },
} as const;

/**
 * `--allow`/`--drop` in the order typed: citty keeps only the last value of a repeated
 * flag and cannot interleave two flags, so these are read from the raw arguments.
 */
export function firewallFromArgv(rawArgs: string[]): FirewallRule[] {
  const entries: { action: "allow" | "drop"; network: string }[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    const m = a.match(/^--(allow|drop)(?:=(.*))?$/);
    if (!m) continue;
    const action = m[1] as "allow" | "drop";
    const value = m[2] ?? rawArgs[++i];
    if (value === undefined || value === "" || (m[2] === undefined && value.startsWith("-"))) throw new UserError(`--${action} needs a network (CIDR or address)`, 2);
    const network = normalizeNetwork(value);
    if (!network) throw new UserError(`--${action} ${JSON.stringify(value)} is not an IP address or CIDR network`);
    entries.push({ action, network });
  }
  return firewallRules(entries);
}

export const meshAllowArgs = {
  "mesh-allow": {
    type: "string",
    description: "Only these may reach it through the mesh: tunnel:<id> or user:<name>; repeatable or comma separated; \"any\" clears the list",
    valueHint: "ENTRY",
  },
} as const;

/**
 * Every `--mesh-allow` value (citty keeps only the last of a repeated flag), split on
 * commas; undefined when the flag is absent (keep the current list), [] for `any`.
 */
export function meshAllowFromArgv(rawArgs: string[]): string[] | undefined {
  let values: string[] | undefined;
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    const m = a.match(/^--mesh-allow(?:=(.*))?$/);
    if (!m) continue;
    const value = m[1] ?? rawArgs[++i];
    if (value === undefined || value === "" || (m[1] === undefined && value.startsWith("-"))) throw new UserError("--mesh-allow needs tunnel:<id>, user:<name> or any", 2);
    values = [...(values ?? []), ...splitMeshAllow(value)];
  }
  if (values === undefined) return undefined;
  if (values.length === 1 && values[0]!.toLowerCase() === "any") return [];
  if (values.some((v) => v.toLowerCase() === "any")) throw new UserError("--mesh-allow any (anyone) cannot be combined with other entries", 2);
  return parseMeshAllow(values, (_i, v) => `--mesh-allow ${JSON.stringify(v)}`);
}
