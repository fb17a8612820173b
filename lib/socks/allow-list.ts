/**
 * The SOCKS allow-list (config `socks.allow`): CIDR ranges and single IPs (v4 and
 * v6), exact hostnames, and leading-label wildcards.
 *
 *   172.16.0.0/24   fd00::/8   10.1.2.3   2001:db8::5
 *   internal-app-a.srv.local
 *   *.srv.local     any depth below srv.local (a.srv.local, a.b.srv.local), but NOT
 *                   srv.local itself: list it separately when it is wanted too. This
 *                   follows the usual reading of "everything under", and keeps a
 *                   wildcard from silently granting the parent's own services.
 *
 * Hostnames compare case-insensitively and without one trailing dot (DNS names are
 * case-insensitive, RFC 4343; "a.b." and "a.b" are the same absolute name).
 *
 * Protected addresses: loopback (127.0.0.0/8, ::1), "this host" (0.0.0.0/8, ::)
 * and link-local (169.254.0.0/16 with cloud metadata services, fe80::/10), plus any
 * the caller adds (the server's own interface addresses). They reach the server
 * itself, its admin ports and its neighbours, so a broad entry like 0.0.0.0/0 or
 * ::/0 must not open them by accident: an address inside a protected range only
 * matches an entry that lies entirely inside that range (127.0.0.0/8, 127.0.0.1,
 * 169.254.169.254), i.e. one that names it explicitly.
 */
import ipaddr from "ipaddr.js";
import { UserError } from "../errors.ts";
import { normalizeDnsHostname } from "../net/hostname.ts";

type IP = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [IP, number];

export type AllowEntry =
  | { kind: "cidr"; source: string; range: Range }
  | { kind: "host"; source: string; hostname: string }
  | { kind: "wildcard"; source: string; suffix: string };

/** An invalid allow-list entry; the message names it, for config and form validation. */
export class AllowListError extends UserError {
  constructor(
    readonly entry: string,
    reason: string,
  ) {
    super(`invalid allow-list entry ${JSON.stringify(entry)}: ${reason}`);
    this.name = "AllowListError";
  }
}

const DEFAULT_PROTECTED = ["127.0.0.0/8", "0.0.0.0/8", "169.254.0.0/16", "::1/128", "::/128", "fe80::/10"];

/**
 * Strict IP literal: IPv4 only in four-part decimal form (so "127.1", "0x7f.0.0.1"
 * or "2130706433" are not taken as addresses here; as names they go through the
 * resolver and its answer is checked), IPv6 with optional brackets and no zone.
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is returned as the IPv4 address it reaches.
 */
export function parseIpLiteral(text: string): IP | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (bare.includes("%") || !ipaddr.IPv6.isValid(bare)) return null;
  const v6 = ipaddr.IPv6.parse(bare);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

function parseRange(text: string, entry: string): Range {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  let addr: IP;
  if (ipaddr.IPv4.isValidFourPartDecimal(addrText)) addr = ipaddr.IPv4.parse(addrText);
  else if (ipaddr.IPv6.isValid(addrText) && !addrText.includes("%")) addr = ipaddr.IPv6.parse(addrText);
  else throw new AllowListError(entry, "not a valid IPv4 or IPv6 address");
  const max = addr.kind() === "ipv4" ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      throw new AllowListError(entry, `prefix length must be 0-${max}`);
    }
    prefix = Number(prefixText);
  }
  // An IPv4-mapped range is the IPv4 range it reaches, so both spellings match.
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
    return [(addr as ipaddr.IPv6).toIPv4Address(), prefix - 96];
  }
  return [addr, prefix];
}

/** Parses one entry; throws AllowListError naming it. Host bits in a CIDR are ignored (172.16.0.5/24 = 172.16.0.0/24). */
export function parseAllowEntry(raw: string): AllowEntry {
  const source = raw.trim();
  if (source.length === 0) throw new AllowListError(raw, "empty entry");
  if (source.includes("/") || ipaddr.isValid(source) || /^[0-9.]+$/.test(source) || source.includes(":")) {
    return { kind: "cidr", source, range: parseRange(source, raw) };
  }
  if (source.startsWith("*.")) {
    const base = normalizeDnsHostname(source.slice(2));
    if (!base) throw new AllowListError(raw, "not a valid wildcard hostname (expected *.example.com)");
    return { kind: "wildcard", source, suffix: `.${base}` };
  }
  if (source.includes("*")) throw new AllowListError(raw, "a wildcard is only allowed as the whole first label (*.example.com)");
  const hostname = normalizeDnsHostname(source);
  if (!hostname) throw new AllowListError(raw, "not a valid hostname, IP address or CIDR range");
  return { kind: "host", source, hostname };
}

/** Splits the dashboard's comma (or whitespace) separated text into entries. */
export function splitAllowListText(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface AllowList {
  readonly entries: readonly AllowEntry[];
  /** True when some entry is a CIDR or IP: only then is a hostname resolved for the check. */
  readonly hasAddressEntries: boolean;
  /** The exact or wildcard entry matching this hostname, or null. */
  matchHost(hostname: string): AllowEntry | null;
  /** The CIDR/IP entry matching this address (protected ranges need an explicit entry), or null. */
  matchAddress(ip: string | IP): AllowEntry | null;
  /** Inside a protected range (loopback, unspecified, link-local, caller's own addresses)? */
  isProtected(ip: string | IP): boolean;
}

export interface AllowListOptions {
  /** More addresses or CIDRs to protect like loopback (e.g. the server's own interface addresses). */
  protectedAddresses?: readonly string[];
}

function toIp(ip: string | IP): IP | null {
  if (typeof ip !== "string") {
    return ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address() : ip;
  }
  return parseIpLiteral(ip);
}

function contains([net, bits]: Range, ip: IP): boolean {
  return net.kind() === ip.kind() && ip.match(net, bits);
}

/** Throws AllowListError on the first invalid entry. */
export function createAllowList(entries: Iterable<string>, opts: AllowListOptions = {}): AllowList {
  const parsed = Array.from(entries, parseAllowEntry);
  const ranges = parsed.filter((e): e is Extract<AllowEntry, { kind: "cidr" }> => e.kind === "cidr");
  const hosts = new Map<string, AllowEntry>();
  const wildcards = new Map<string, AllowEntry>();
  for (const e of parsed) {
    if (e.kind === "host") hosts.set(e.hostname, e);
    else if (e.kind === "wildcard") wildcards.set(e.suffix, e);
  }
  const protectedRanges = [...DEFAULT_PROTECTED, ...(opts.protectedAddresses ?? [])].map((p) => parseRange(p, p));

  const isProtected = (ip: IP) => protectedRanges.some((r) => contains(r, ip));

  return {
    entries: parsed,
    hasAddressEntries: ranges.length > 0,
    matchHost(name) {
      const h = normalizeDnsHostname(name);
      if (!h) return null;
      const exact = hosts.get(h);
      if (exact) return exact;
      // Every proper suffix starting at a dot: a.b.srv.local -> .b.srv.local, .srv.local, .local
      for (let i = h.indexOf("."); i >= 0; i = h.indexOf(".", i + 1)) {
        const w = wildcards.get(h.slice(i));
        if (w) return w;
      }
      return null;
    },
    matchAddress(input) {
      const ip = toIp(input);
      if (!ip) return null;
      const guarded = protectedRanges.filter((r) => contains(r, ip));
      for (const e of ranges) {
        if (!contains(e.range, ip)) continue;
        // Explicit means the entry is no wider than every protected range holding ip.
        if (guarded.every(([, bits]) => e.range[1] >= bits)) return e;
      }
      return null;
    },
    isProtected(input) {
      const ip = toIp(input);
      return ip ? isProtected(ip) : false;
    },
  };
}
