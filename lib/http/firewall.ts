/**
 * Per-rule visitor firewall (`firewall` on an HTTP or TCP rule, SPEC 3.1):
 * `[{ sequence, action: "allow" | "drop", network }]`, checked by the server
 * against the visitor's address before any traffic enters the tunnel.
 *
 * Semantics (as frp's and ngrok's IP restrictions read in order):
 * - rules are evaluated in ascending `sequence` (ties keep their listed order);
 * - the first rule whose network contains the address decides;
 * - when no rule matches, the visitor is ALLOWED. To admit only some networks,
 *   end the list with a catch-all drop, e.g. `{ sequence: 1000, action: "drop",
 *   network: "any" }`;
 * - `network` is an IPv4 or IPv6 address (a single host) or CIDR; `any` / `*`
 *   matches every address. An IPv4 rule matches IPv4 visitors including
 *   IPv4-mapped IPv6 ones (`::ffff:10.1.2.3`, as dual-stack sockets report them);
 *   a `::ffff:a.b.c.d/96+n` rule is treated as the IPv4 rule `a.b.c.d/n`;
 * - an address that cannot be parsed is dropped (fail closed) when any rule exists.
 */
import ipaddr from "ipaddr.js";
import { UserError } from "../errors.ts";

/** One rule, as the client file stores it, the client announces it and the server checks it. */
export interface FirewallRule {
  /** Rules are applied in ascending sequence; the first match decides. */
  sequence: number;
  action: "allow" | "drop";
  /** An address or CIDR network, or `any` / `*` (see above); the client file stores a single address as /32 or /128. */
  network: string;
}

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

interface CompiledRule {
  allow: boolean;
  /** null = any address */
  kind: "ipv4" | "ipv6" | null;
  range: [Addr, number] | null;
}

export interface Firewall {
  /** The decision for a remote address as the socket reports it (`1.2.3.4`, `::1`, `::ffff:1.2.3.4`, `[::1]`). */
  decide(remoteAddress: string): "allow" | "drop";
  allows(remoteAddress: string): boolean;
  /** The rules in evaluation order. */
  readonly rules: readonly FirewallRule[];
}

/** Parses one rule's network; throws a UserError naming it. */
function compileRule(rule: FirewallRule, where: string): CompiledRule {
  if (rule.action !== "allow" && rule.action !== "drop") throw new UserError(`${where}: action must be "allow" or "drop"`);
  if (typeof rule.sequence !== "number" || !Number.isFinite(rule.sequence)) throw new UserError(`${where}: sequence must be a number`);
  const allow = rule.action === "allow";
  const net = String(rule.network ?? "").trim();
  if (net === "any" || net === "*") return { allow, kind: null, range: null };
  // ipaddr.js also reads classful and hex IPv4 forms ("10.1", "0x0a.1"): a typo
  // there would silently mean another network, so IPv4 must be four decimal parts.
  const addrPart = net.split("/")[0];
  if (!addrPart.includes(":") && !ipaddr.IPv4.isValidFourPartDecimal(addrPart)) {
    throw new UserError(`${where}: network "${net}" is not an IP address or CIDR`);
  }
  let range: [Addr, number];
  try {
    if (net.includes("/")) {
      range = ipaddr.parseCIDR(net);
    } else {
      const addr = ipaddr.parse(net);
      range = [addr, addr.kind() === "ipv4" ? 32 : 128];
    }
  } catch {
    throw new UserError(`${where}: network "${net}" is not an IP address or CIDR`);
  }
  const [addr, bits] = range;
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    range = [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return { allow, kind: range[0].kind(), range };
}

/** Checks and orders rules; throws a UserError naming the first bad one. */
export function compileFirewall(rules: readonly FirewallRule[] | null | undefined): Firewall {
  const list = [...(rules ?? [])];
  const compiled = list.map((r, i) => ({ rule: r, c: compileRule(r, `firewall rule ${i + 1} (sequence ${r?.sequence})`), i }));
  compiled.sort((a, b) => a.rule.sequence - b.rule.sequence || a.i - b.i);
  const ordered = compiled.map((x) => x.c);

  function decide(remoteAddress: string): "allow" | "drop" {
    if (ordered.length === 0) return "allow";
    const addr = parseRemote(remoteAddress);
    if (addr === null) return "drop";
    const kind = addr.kind();
    for (const r of ordered) {
      if (r.range === null || (r.kind === kind && addr.match(r.range))) return r.allow ? "allow" : "drop";
    }
    return "allow";
  }

  return {
    decide,
    allows: (remote) => decide(remote) === "allow",
    rules: compiled.map((x) => x.rule),
  };
}

/** Validates rules without keeping them (config and dashboard input); throws a UserError. */
export function validateFirewallRules(rules: readonly FirewallRule[]): void {
  compileFirewall(rules);
}

/** A socket's remote address as an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes IPv4. */
export function parseRemote(remote: string): Addr | null {
  let s = remote.trim();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!ipaddr.isValid(s)) return null;
  try {
    const addr = ipaddr.parse(s);
    if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address();
    return addr;
  } catch {
    return null;
  }
}
