/**
 * SOCKS5 wire format (RFC 1928) and username/password sub-negotiation (RFC 1929):
 * pure, incremental parsers and reply builders. No sockets, no timers.
 *
 * Every parser takes whatever bytes have arrived so far and answers:
 *   { status: "incomplete" }                 need more bytes, nothing consumed
 *   { status: "ok", value, consumed }        one whole message at the start of buf
 *   { status: "error", reply?, message }     the peer is not speaking the protocol;
 *                                            `reply` is the code to send before closing
 * A parser never reads past the longest legal message (MAX_* below), so hostile
 * input cannot make it buffer or scan without bound, and a result never depends on
 * bytes after the message it returns.
 */
import ipaddr from "ipaddr.js";

export const SOCKS_VERSION = 0x05;
/** RFC 1929 §2: the sub-negotiation has its own version byte, 0x01. */
export const AUTH_VERSION = 0x01;

/** RFC 1928 §3 method identifiers. */
export const Method = {
  NO_AUTH: 0x00,
  GSSAPI: 0x01,
  USERNAME_PASSWORD: 0x02,
  NO_ACCEPTABLE: 0xff,
} as const;

/** RFC 1928 §4 CMD values. */
export const Command = {
  CONNECT: 0x01,
  BIND: 0x02,
  UDP_ASSOCIATE: 0x03,
} as const;

/** RFC 1928 §5 ATYP values. */
export const AddrType = {
  IPV4: 0x01,
  DOMAIN: 0x03,
  IPV6: 0x04,
} as const;
export type AddrTypeCode = (typeof AddrType)[keyof typeof AddrType];

/** RFC 1928 §6 REP values. */
export const Reply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;
export type ReplyCode = (typeof Reply)[keyof typeof Reply];

const REPLY_TEXT: Record<number, string> = {
  0x00: "succeeded",
  0x01: "general SOCKS server failure",
  0x02: "connection not allowed by ruleset",
  0x03: "network unreachable",
  0x04: "host unreachable",
  0x05: "connection refused",
  0x06: "TTL expired",
  0x07: "command not supported",
  0x08: "address type not supported",
};

/** Human text of a reply code, for logs and client error messages. */
export function replyText(code: number): string {
  return REPLY_TEXT[code] ?? `unassigned reply 0x${code.toString(16).padStart(2, "0")}`;
}

/** VER NMETHODS METHODS[1..255] */
export const MAX_GREETING_BYTES = 2 + 255;
/** VER ULEN UNAME[1..255] PLEN PASSWD[1..255] (RFC 1929 §2) */
export const MAX_AUTH_REQUEST_BYTES = 3 + 255 + 255;
/** VER CMD RSV ATYP (LEN NAME[255] | 16-byte IPv6) PORT */
export const MAX_REQUEST_BYTES = 4 + 1 + 255 + 2;

export type ParseResult<T> =
  | { status: "incomplete" }
  | { status: "ok"; value: T; consumed: number }
  | { status: "error"; reply?: number; message: string };

const INCOMPLETE = { status: "incomplete" } as const;

function fail(message: string, reply?: number): { status: "error"; reply?: number; message: string } {
  return reply === undefined ? { status: "error", message } : { status: "error", reply, message };
}

export interface SocksGreeting {
  methods: number[];
}

/**
 * Client greeting (RFC 1928 §3). A wrong version means the peer is not a SOCKS5
 * client (often SOCKS4 or TLS or HTTP): no reply is defined, so none is suggested.
 * NMETHODS = 0 is answered with "no acceptable methods" (0xFF), as §3 prescribes
 * for a greeting the server cannot satisfy.
 */
export function parseGreeting(buf: Uint8Array): ParseResult<SocksGreeting> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return fail(`unsupported SOCKS version ${buf[0]}`);
  if (buf.length < 2) return INCOMPLETE;
  const n = buf[1];
  if (n === 0) return fail("greeting offers no authentication methods", Method.NO_ACCEPTABLE);
  if (buf.length < 2 + n) return INCOMPLETE;
  return { status: "ok", value: { methods: Array.from(buf.subarray(2, 2 + n)) }, consumed: 2 + n };
}

export interface SocksCredentials {
  username: string;
  password: string;
}

/**
 * Username/password request (RFC 1929 §2). The RFC says both fields are 1..255
 * bytes; zero lengths are accepted here and left to the verifier (some clients
 * send an empty username with a token as password). Bytes are decoded as UTF-8;
 * invalid sequences become U+FFFD and simply fail verification.
 */
export function parseAuthRequest(buf: Uint8Array): ParseResult<SocksCredentials> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== AUTH_VERSION) return fail(`unsupported username/password version ${buf[0]}`, 0x01);
  if (buf.length < 2) return INCOMPLETE;
  const ulen = buf[1];
  if (buf.length < 2 + ulen + 1) return INCOMPLETE;
  const plen = buf[2 + ulen];
  const total = 3 + ulen + plen;
  if (buf.length < total) return INCOMPLETE;
  const utf8 = new TextDecoder();
  return {
    status: "ok",
    value: {
      username: utf8.decode(buf.subarray(2, 2 + ulen)),
      password: utf8.decode(buf.subarray(3 + ulen, total)),
    },
    consumed: total,
  };
}

export interface SocksRequest {
  /** Raw CMD byte; the parser accepts any value so the server can answer 0x07 for it. */
  command: number;
  addrType: AddrTypeCode;
  /** Dotted IPv4, RFC 5952 IPv6, or the domain name exactly as sent (validated charset). */
  host: string;
  port: number;
}

/**
 * Characters accepted in a DOMAINNAME: letters, digits, '-', '.', '_' (seen in
 * service names), and ':' '[' ']' because some clients send IP literals (even
 * bracketed IPv6) as a domain name. Anything else (controls, spaces, '%', bytes
 * >= 0x80) is refused rather than passed on to a resolver or into logs.
 */
function isHostnameByte(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x30 && b <= 0x3a) || // 0-9 and ':'
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x5b || b === 0x5d // - . _ [ ]
  );
}

/**
 * Request (RFC 1928 §4). RSV is ignored rather than enforced, as most servers do.
 * Any CMD byte parses (the caller answers 0x07 for what it does not support), but an
 * unknown ATYP cannot be framed at all, so it is an error with reply 0x08 (§6).
 */
export function parseRequest(buf: Uint8Array): ParseResult<SocksRequest> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return fail(`unsupported SOCKS version ${buf[0]} in request`, Reply.GENERAL_FAILURE);
  if (buf.length < 4) return INCOMPLETE;
  const command = buf[1];
  const atyp = buf[3];
  let host: string;
  let at: number; // offset of DST.PORT
  switch (atyp) {
    case AddrType.IPV4: {
      if (buf.length < 4 + 4 + 2) return INCOMPLETE;
      host = `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`;
      at = 8;
      break;
    }
    case AddrType.IPV6: {
      if (buf.length < 4 + 16 + 2) return INCOMPLETE;
      host = ipaddr.fromByteArray(Array.from(buf.subarray(4, 20))).toString();
      at = 20;
      break;
    }
    case AddrType.DOMAIN: {
      if (buf.length < 5) return INCOMPLETE;
      const len = buf[4];
      if (len === 0) return fail("empty domain name", Reply.HOST_UNREACHABLE);
      if (buf.length < 5 + len + 2) return INCOMPLETE;
      const name = buf.subarray(5, 5 + len);
      for (const b of name) if (!isHostnameByte(b)) return fail("domain name contains invalid characters", Reply.HOST_UNREACHABLE);
      host = String.fromCharCode(...name);
      at = 5 + len;
      break;
    }
    default:
      return fail(`unsupported address type ${atyp}`, Reply.ADDRESS_TYPE_NOT_SUPPORTED);
  }
  const port = (buf[at] << 8) | buf[at + 1];
  return { status: "ok", value: { command, addrType: atyp, host, port }, consumed: at + 2 };
}

/** Server's method selection (RFC 1928 §3): VER METHOD. */
export function buildMethodSelection(method: number): Uint8Array {
  return Uint8Array.of(SOCKS_VERSION, method);
}

/** Server's sub-negotiation status (RFC 1929 §2): 0x00 success, anything else failure. */
export function buildAuthReply(success: boolean): Uint8Array {
  return Uint8Array.of(AUTH_VERSION, success ? 0x00 : 0x01);
}

export interface BoundAddress {
  host: string;
  port: number;
}

/** Encodes an address as ATYP + ADDR; an IP literal is sent as such, anything else as a domain. */
export function encodeAddress(host: string): Uint8Array {
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return Uint8Array.of(AddrType.IPV4, ...ipaddr.IPv4.parse(host).octets);
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (ipaddr.IPv6.isValid(bare) && !bare.includes("%")) return Uint8Array.of(AddrType.IPV6, ...ipaddr.IPv6.parse(bare).toByteArray());
  const name = new TextEncoder().encode(host);
  if (name.length === 0 || name.length > 255) throw new RangeError(`SOCKS domain name must be 1-255 bytes (got ${name.length})`);
  return Uint8Array.of(AddrType.DOMAIN, name.length, ...name);
}

function encodePort(port: number): [number, number] {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid port ${port}`);
  return [port >> 8, port & 0xff];
}

/**
 * Server reply (RFC 1928 §6): VER REP RSV ATYP BND.ADDR BND.PORT. Failure replies
 * and replies without a known bound address carry 0.0.0.0:0, which clients ignore.
 */
export function buildReply(code: number, bound: BoundAddress = { host: "0.0.0.0", port: 0 }): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new RangeError(`invalid SOCKS reply code ${code}`);
  const addr = encodeAddress(bound.host);
  const out = new Uint8Array(3 + addr.length + 2);
  out.set([SOCKS_VERSION, code, 0x00]);
  out.set(addr, 3);
  out.set(encodePort(bound.port), 3 + addr.length);
  return out;
}

// ---- Client side: used by the mesh client and by tests ---------------------------

/** Client greeting (RFC 1928 §3). */
export function buildGreeting(methods: number[]): Uint8Array {
  if (methods.length < 1 || methods.length > 255) throw new RangeError("a greeting offers 1-255 methods");
  return Uint8Array.of(SOCKS_VERSION, methods.length, ...methods);
}

/** Client username/password request (RFC 1929 §2). */
export function buildAuthRequest(username: string, password: string): Uint8Array {
  const u = new TextEncoder().encode(username);
  const p = new TextEncoder().encode(password);
  if (u.length > 255 || p.length > 255) throw new RangeError("SOCKS username and password are limited to 255 bytes each");
  return Uint8Array.of(AUTH_VERSION, u.length, ...u, p.length, ...p);
}

/** Client request (RFC 1928 §4). */
export function buildRequest(command: number, host: string, port: number): Uint8Array {
  const addr = encodeAddress(host);
  return Uint8Array.of(SOCKS_VERSION, command, 0x00, ...addr, ...encodePort(port));
}

/** Server's method selection as seen by a client. */
export function parseMethodSelection(buf: Uint8Array): ParseResult<{ method: number }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return fail(`unsupported SOCKS version ${buf[0]} in method selection`);
  if (buf.length < 2) return INCOMPLETE;
  return { status: "ok", value: { method: buf[1] }, consumed: 2 };
}

/** Server's sub-negotiation status as seen by a client. */
export function parseAuthReply(buf: Uint8Array): ParseResult<{ success: boolean }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== AUTH_VERSION) return fail(`unsupported username/password version ${buf[0]} in reply`);
  if (buf.length < 2) return INCOMPLETE;
  return { status: "ok", value: { success: buf[1] === 0x00 }, consumed: 2 };
}

/** Server's reply as seen by a client; the layout is the request's with REP in place of CMD. */
export function parseReply(buf: Uint8Array): ParseResult<{ reply: number; bound: BoundAddress; addrType: AddrTypeCode }> {
  const r = parseRequest(buf);
  if (r.status !== "ok") return r.status === "error" ? fail(r.message.replace("request", "reply")) : r;
  const { command: reply, addrType, host, port } = r.value;
  return { status: "ok", value: { reply, bound: { host, port }, addrType }, consumed: r.consumed };
}
