/**
 * The `Host` header / authority of an HTTP request, as used for routing: RFC 9110
 * §7.2 `uri-host [ ":" port ]`, where uri-host is a registered name, an IPv4
 * address or a bracketed IPv6 literal.
 */
import { isIPv6 } from "node:net";
import { normalizeSniHostname } from "../net/hostname.ts";

export interface HostPort {
  /** Lowercased host name without a trailing dot, or an IP address (IPv6 without brackets); "" for an empty Host. */
  hostname: string;
  /** The port when one was given. */
  port: number | null;
}

/** Parses `host[:port]` or `[v6]:port`; null when it is not a valid authority. */
export function parseHostHeader(value: string): HostPort | null {
  if (value === "") return { hostname: "", port: null };
  let name: string;
  let rest: string;
  if (value.charCodeAt(0) === 0x5b) {
    const close = value.indexOf("]");
    if (close < 0) return null;
    name = value.slice(1, close).toLowerCase();
    if (!isIPv6(name)) return null;
    rest = value.slice(close + 1);
    if (rest !== "" && rest.charCodeAt(0) !== 0x3a) return null;
  } else {
    const colon = value.indexOf(":");
    const raw = colon < 0 ? value : value.slice(0, colon);
    rest = colon < 0 ? "" : value.slice(colon);
    const norm = normalizeSniHostname(raw);
    if (norm === null) return null;
    name = norm;
  }
  if (rest === "" || rest === ":") return { hostname: name, port: null };
  const digits = rest.slice(1);
  if (digits.length > 5) return null;
  let port = 0;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return null;
    port = port * 10 + c;
  }
  if (port > 65535) return null;
  return { hostname: name, port };
}
