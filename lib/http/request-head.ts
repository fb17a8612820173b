/**
 * HTTP/1.x request-head parsing (RFC 9112 §3, §5, §6.3): the request line, header
 * fields in order and raw case, the routing host, keep-alive/upgrade and the body
 * framing. Pure: takes the bytes of one complete head and returns a RequestHead or
 * throws RequestParseError. The stream engine (request-stream.ts) finds the head's end.
 *
 * Framing is strict where proxies and servers could disagree (request smuggling,
 * RFC 9112 §6.3, §11.2): both Content-Length and Transfer-Encoding, differing or
 * malformed Content-Length values, a Transfer-Encoding not ending in chunked,
 * obsolete line folding, whitespace before a header colon, and several Host headers
 * are all errors.
 */
import { parseHostHeader } from "./host.ts";

export type BodyKind = "none" | "length" | "chunked";

/** A parsed request head. Header names keep their case and order. */
export class RequestHead {
  method = "";
  target = "";
  version: "HTTP/1.0" | "HTTP/1.1" = "HTTP/1.1";
  /** Header names as received. */
  names: string[] = [];
  /** Header values (leading/trailing whitespace removed), parallel to `names`. */
  values: string[] = [];
  /** Lowercased names, parallel to `names`. */
  lowerNames: string[] = [];
  /** Routing host: lowercased, no port or trailing dot (absolute-form target wins over Host); null if absent or empty. */
  host: string | null = null;
  /** Port given in the Host header (or target authority). */
  port: number | null = null;
  /** The Host header value as received, or null. */
  hostHeader: string | null = null;
  /** The connection stays open after this request (HTTP/1.1 default, or HTTP/1.0 + keep-alive). */
  keepAlive = true;
  /** After this request the connection becomes an opaque byte stream (Upgrade or CONNECT). */
  upgrade = false;
  body: BodyKind = "none";
  /** Content-Length when `body` is "length"; -1 otherwise. */
  contentLength = -1;
  /** 0 for the first request of the connection. */
  index = 0;
  /** Size of the head in bytes as received (request line to the empty line). */
  size = 0;

  /** First value of a header (case-insensitive name). */
  get(name: string): string | undefined {
    const n = name.toLowerCase();
    for (let i = 0; i < this.lowerNames.length; i++) if (this.lowerNames[i] === n) return this.values[i];
    return undefined;
  }

  getAll(name: string): string[] {
    const n = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) if (this.lowerNames[i] === n) out.push(this.values[i]);
    return out;
  }
}

export type RequestErrorCode =
  | "headTooLarge"
  | "badRequest"
  | "badFraming"
  | "badHost"
  | "notHttp"
  | "http2"
  | "unsupportedVersion"
  | "decisionFailed";

/** The one error the request parsers throw; `status` is the HTTP answer (0: none, HTTP/2 preface). */
export class RequestParseError extends Error {
  constructor(
    readonly code: RequestErrorCode,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** RFC 9110 §5.6.2 tchar, as a byte table (1 = token character). */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/**
 * Parses a head held in `buf[start, end)`, `end` just past the final CRLFCRLF.
 * Throws RequestParseError.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, index = 0): RequestHead {
  const text = buf.toString("latin1", start, end - 2); // keeps the last header line's CRLF
  const head = new RequestHead();
  head.index = index;
  head.size = end - start;

  // Request line: method SP request-target SP HTTP-version (RFC 9112 §3).
  let eol = text.indexOf("\r\n");
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(" ");
  const sp2 = line.lastIndexOf(" ");
  if (sp1 <= 0 || sp2 === sp1) {
    throw new RequestParseError(index === 0 && !looksLikeRequestLine(line) ? "notHttp" : "badRequest", 400, "malformed request line");
  }
  const method = line.slice(0, sp1);
  for (let i = 0; i < method.length; i++) {
    if (TOKEN[method.charCodeAt(i)] === 0) throw new RequestParseError("badRequest", 400, "malformed method");
  }
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (method === "PRI" && target === "*" && version === "HTTP/2.0") {
    throw new RequestParseError("http2", 0, "HTTP/2 connection preface on an HTTP/1 port");
  }
  if (version === "HTTP/1.1" || version === "HTTP/1.0") head.version = version;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new RequestParseError("unsupportedVersion", 505, `unsupported version ${version}`);
  else throw new RequestParseError("badRequest", 400, "malformed HTTP version");
  if (target.length === 0) throw new RequestParseError("badRequest", 400, "empty request target");
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) throw new RequestParseError("badRequest", 400, "invalid character in request target");
  }
  head.method = method;
  head.target = target;

  // Header fields (RFC 9112 §5).
  const names = head.names;
  const values = head.values;
  const lower = head.lowerNames;
  let hostCount = 0;
  let contentLength: string[] | null = null;
  let transferEncoding: string[] | null = null;
  let connection: string | null = null;
  let hasUpgrade = false;
  let p = eol + 2;
  while (p < text.length) {
    eol = text.indexOf("\r\n", p);
    const colon = text.indexOf(":", p);
    if (colon < 0 || colon > eol) throw new RequestParseError("badRequest", 400, "header line without a colon");
    if (colon === p) throw new RequestParseError("badRequest", 400, "empty header name");
    for (let i = p; i < colon; i++) {
      // Also rejects obs-fold (a line starting with SP/HTAB) and whitespace before the colon.
      if (TOKEN[text.charCodeAt(i)] === 0) throw new RequestParseError("badRequest", 400, "invalid header name");
    }
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--;
    const name = text.slice(p, colon);
    const value = text.slice(vs, ve);
    // CR, LF and NUL must not appear in a field value (RFC 9110 §5.5).
    if (value.indexOf("\r") >= 0 || value.indexOf("\n") >= 0 || value.indexOf("\0") >= 0) {
      throw new RequestParseError("badRequest", 400, "invalid character in header value");
    }
    const lname = name.toLowerCase();
    names.push(name);
    values.push(value);
    lower.push(lname);
    switch (lname) {
      case "host":
        hostCount++;
        head.hostHeader = value;
        break;
      case "content-length":
        (contentLength ??= []).push(value);
        break;
      case "transfer-encoding":
        (transferEncoding ??= []).push(value);
        break;
      case "connection":
        connection = connection === null ? value : `${connection}, ${value}`;
        break;
      case "upgrade":
        hasUpgrade = true;
        break;
    }
    p = eol + 2;
  }

  // Connection options.
  let close = false;
  let keepAlive = false;
  let upgradeToken = false;
  if (connection !== null) {
    for (const t of connection.split(",")) {
      const tok = t.trim().toLowerCase();
      if (tok === "close") close = true;
      else if (tok === "keep-alive") keepAlive = true;
      else if (tok === "upgrade") upgradeToken = true;
    }
  }
  head.keepAlive = head.version === "HTTP/1.1" ? !close : keepAlive && !close;
  head.upgrade = method === "CONNECT" || (hasUpgrade && upgradeToken);

  // Host (RFC 9112 §3.2): exactly one for HTTP/1.1; the authority of an
  // absolute-form or authority-form target takes precedence for routing.
  if (hostCount > 1) throw new RequestParseError("badHost", 400, "more than one Host header");
  if (hostCount === 0 && head.version === "HTTP/1.1") throw new RequestParseError("badHost", 400, "missing Host header");
  let authority: string | null = head.hostHeader;
  const c0 = target.charCodeAt(0);
  if (method === "CONNECT") {
    authority = target;
  } else if (c0 === 0x2f /* / */) {
    // origin-form
  } else if (target === "*") {
    if (method !== "OPTIONS") throw new RequestParseError("badRequest", 400, "asterisk target outside OPTIONS");
  } else {
    authority = absoluteAuthority(target);
  }
  if (head.hostHeader !== null) {
    const hp = parseHostHeader(head.hostHeader);
    if (hp === null) throw new RequestParseError("badHost", 400, "invalid Host header");
    if (authority === head.hostHeader) setHost(head, hp.hostname, hp.port);
  }
  if (authority !== null && authority !== head.hostHeader) {
    const hp = parseHostHeader(authority);
    if (hp === null || (method === "CONNECT" && hp.port === null)) throw new RequestParseError("badHost", 400, "invalid authority in request target");
    setHost(head, hp.hostname, hp.port);
  }

  // Message body length (RFC 9112 §6.3).
  if (transferEncoding !== null) {
    if (contentLength !== null) throw new RequestParseError("badFraming", 400, "both Content-Length and Transfer-Encoding");
    if (head.version === "HTTP/1.0") throw new RequestParseError("badFraming", 400, "Transfer-Encoding in an HTTP/1.0 request");
    const codings = transferEncoding.join(",").split(",");
    let last = "";
    let chunkedCount = 0;
    for (const c of codings) {
      const coding = c.trim().toLowerCase();
      if (coding === "") continue;
      if (coding === "chunked") chunkedCount++;
      last = coding;
    }
    if (last !== "chunked" || chunkedCount !== 1) throw new RequestParseError("badFraming", 400, "Transfer-Encoding must end with a single chunked");
    head.body = "chunked";
  } else if (contentLength !== null) {
    let n = -1;
    for (const v of contentLength.join(",").split(",")) {
      const m = parseContentLength(v.trim());
      if (m < 0 || (n >= 0 && m !== n)) throw new RequestParseError("badFraming", 400, "invalid Content-Length");
      n = m;
    }
    head.contentLength = n;
    head.body = n > 0 ? "length" : "none";
  }
  return head;
}

function setHost(head: RequestHead, hostname: string, port: number | null): void {
  head.host = hostname === "" ? null : hostname;
  head.port = port;
}

/** The authority of an absolute-form target `http(s)://authority/...`. */
function absoluteAuthority(target: string): string {
  const sep = target.indexOf("://");
  const scheme = sep > 0 ? target.slice(0, sep).toLowerCase() : "";
  if (scheme !== "http" && scheme !== "https") throw new RequestParseError("badRequest", 400, "malformed request target");
  let end = target.length;
  for (const ch of ["/", "?", "#"]) {
    const i = target.indexOf(ch, sep + 3);
    if (i >= 0 && i < end) end = i;
  }
  const authority = target.slice(sep + 3, end);
  if (authority.includes("@")) throw new RequestParseError("badRequest", 400, "user information in request target");
  return authority;
}

/** 1*DIGIT up to 2^53-1, or -1. */
function parseContentLength(v: string): number {
  if (v.length === 0 || v.length > 16) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

function looksLikeRequestLine(line: string): boolean {
  return /^[A-Za-z]+ \S+ HTTP\/\d/.test(line);
}
