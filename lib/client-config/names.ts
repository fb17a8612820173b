// Validation of the names and networks that appear in traffic rules.
import { isIP } from "node:net";
import { isHostname } from "../net/hostname.ts";

/** A rule's domain: a hostname, optionally a wildcard (`*.example.com`). */
export function isRuleDomain(value: string): boolean {
  return isHostname(value.startsWith("*.") ? value.slice(2) : value);
}

/** Where traffic is forwarded: a hostname (`redis`, `db.lan`) or an IP address. */
export function isDestination(value: string): boolean {
  return isIP(value) !== 0 || isHostname(value);
}

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or a bare address (stored as /32 or /128, the form the
 * server matches on). Strict dotted-quad only: `10.1/16` and `010.0.0.1` are rejected
 * because their meaning differs between parsers. Returns undefined when invalid.
 */
export function normalizeNetwork(value: string): string | undefined {
  const [addr = "", bits, extra] = value.trim().split("/");
  if (extra !== undefined) return undefined;
  const family = isIP(addr);
  if (!family) return undefined;
  const max = family === 4 ? 32 : 128;
  if (bits === undefined) return `${addr.toLowerCase()}/${max}`;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return undefined;
  return `${addr.toLowerCase()}/${Number(bits)}`;
}
