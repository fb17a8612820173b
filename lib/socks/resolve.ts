/**
 * Where a SOCKS CONNECT may go (SPEC 2.3), in order:
 *   1. the allow-list: a hostname against hostname/wildcard entries, an address
 *      against CIDR entries;
 *   2. a service behind an online tunnel (injected: HTTP rule hostnames on 80/443,
 *      allocated TCP ports whatever the hostname);
 *   3. otherwise refused with 0x02.
 * A hostname is resolved at most once, and a "direct" answer always carries the IP
 * that was checked, so the caller dials exactly that address: a second DNS answer
 * (rebinding to 127.0.0.1, say) can never be the one connected to.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { normalizeDnsHostname } from "../net/hostname.ts";
import { type AllowList, parseIpLiteral } from "./allow-list.ts";
import { Reply } from "./protocol.ts";

export interface DestinationRequest {
  host: string;
  port: number;
}

export type Destination<R> =
  | {
      kind: "direct";
      /** The checked IP literal: dial this, never the name again. */
      host: string;
      port: number;
      /** The allow-list entry that admitted it, for logs. */
      entry: string;
      /** The hostname the client asked for, when it was one. */
      hostname?: string;
    }
  | { kind: "tunnel"; host: string; port: number; route: R }
  | { kind: "refused"; reply: number; reason: string };

export interface ResolveOptions<R> {
  allowList: AllowList;
  /** All addresses of a name, in preference order. Default: the system resolver. */
  lookup?: (hostname: string) => Promise<string[]>;
  /** Returns the route to an online tunnel serving host:port, or null. */
  isTunnelService?: (target: DestinationRequest) => R | null | undefined | Promise<R | null | undefined>;
}

export async function systemLookup(hostname: string): Promise<string[]> {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

export async function resolveDestination<R>(target: DestinationRequest, opts: ResolveOptions<R>): Promise<Destination<R>> {
  const { allowList } = opts;
  const { port } = target;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { kind: "refused", reply: Reply.NOT_ALLOWED, reason: `port ${port} is not allowed` };
  }
  const ip = parseIpLiteral(target.host);
  const hostname = ip ? undefined : normalizeDnsHostname(target.host);
  if (!ip && !hostname) {
    return { kind: "refused", reply: Reply.HOST_UNREACHABLE, reason: `invalid destination host ${JSON.stringify(target.host)}` };
  }
  // What the tunnel check and the logs see: the canonical spelling.
  const host = ip ? ip.toString() : hostname!;
  let refusal: Destination<R> | undefined;

  if (ip) {
    const entry = allowList.matchAddress(ip);
    if (entry) return { kind: "direct", host, port, entry: entry.source };
  } else {
    const name = hostname!;
    const hostEntry = allowList.matchHost(name);
    if (hostEntry || allowList.hasAddressEntries) {
      let addresses: string[] = [];
      let lookupError: string | undefined;
      try {
        addresses = await (opts.lookup ?? systemLookup)(name);
      } catch (err) {
        lookupError = err instanceof Error ? err.message : String(err);
      }
      for (const a of addresses) {
        const addr = parseIpLiteral(a);
        if (!addr) continue;
        const byAddress = allowList.matchAddress(addr);
        // A name entry admits any address the name resolves to except protected
        // ones, which still need their own explicit entry (a name pointing at
        // 127.0.0.1 must not open the server's loopback).
        const entry = byAddress ?? (hostEntry && !allowList.isProtected(addr) ? hostEntry : null);
        if (entry) return { kind: "direct", host: addr.toString(), port, entry: entry.source, hostname: name };
      }
      if (hostEntry) {
        refusal = lookupError
          ? { kind: "refused", reply: Reply.HOST_UNREACHABLE, reason: `cannot resolve ${name}: ${lookupError}` }
          : addresses.length === 0
            ? { kind: "refused", reply: Reply.HOST_UNREACHABLE, reason: `${name} has no addresses` }
            : { kind: "refused", reply: Reply.NOT_ALLOWED, reason: `${name} resolves only to protected addresses` };
      }
    }
  }

  const route = await opts.isTunnelService?.({ host, port });
  if (route) return { kind: "tunnel", host, port, route };
  return refusal ?? { kind: "refused", reply: Reply.NOT_ALLOWED, reason: `${host}:${port} is not allowed` };
}
