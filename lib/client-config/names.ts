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

/** A Host header value for the upstream: a hostname or address, optionally with `:port`. */
export function isHostWithPort(value: string): boolean {
  const m = /^(.+?)(?::(\d{1,5}))?$/.exec(value);
  if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) return false;
  const host = m[1]!.startsWith("[") && m[1]!.endsWith("]") ? m[1]!.slice(1, -1) : m[1]!;
  return isDestination(host);
}

/** Where a redirect rule sends visitors: an absolute http(s) URL. */
export function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
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
