/**
 * Incremental HTTP/1.x request-stream engine for the public HTTP listeners.
 *
 * The server relays public connections into tunnels as byte streams (not through
 * Bun.serve), so it must know where each request starts and ends to route every
 * request of a keep-alive connection by its own Host header and to edit its head.
 * Feed it the client→server bytes of one connection with `push`; it
 *
 *   1. parses each request head (request line, headers in order and raw case),
 *   2. asks `onHead(head)` what to do (sync, or a Promise, e.g. a password check),
 *   3. on "forward": emits the rewritten head (X-Forwarded-*, Host, header edits)
 *      through `onForward`, then the body bytes as they arrive — subarrays of the
 *      pushed chunks, never buffered whole — delimited by Content-Length or by the
 *      chunked framing (RFC 9112 §7.1: sizes, extensions, trailers), which is
 *      forwarded unchanged,
 *   4. repeats for the next (possibly pipelined) request;
 *   5. after a forwarded `Upgrade` + `Connection: upgrade` request (WebSocket, h2c)
 *      or a CONNECT, passes every further byte through untouched.
 *
 * Responses are not parsed: the caller copies the tunnel's bytes back as they come.
 *
 * Ending: a "respond", "reject" or "stop" decision, or a protocol error, ends the
 * stream (`onEnd`); nothing after that request is forwarded. Earlier requests may
 * still be answered by the tunnel, so the caller should half-close the tunnel
 * stream, let the pending responses through, then write `end.response` (if any) and
 * close the client connection. "stop" is how a caller refuses a request whose Host
 * routes to a different tunnel than the one this connection is bound to: that
 * client reconnects (browsers keep one connection per host anyway).
 *
 * Framing is strict where proxies and servers could disagree (request smuggling,
 * RFC 9112 §6.3, §11.2): both Content-Length and Transfer-Encoding, differing or
 * malformed Content-Length values, a Transfer-Encoding not ending in chunked, bare
 * CR or LF, obsolete line folding, whitespace before a header colon, and several
 * Host headers all give 400.
 *
 * Chunks passed to `push` are not copied: body bytes reach `onForward` as views of
 * them, so a chunk must not be modified after it was pushed.
 */
import { parseHostHeader } from "./host.ts";
import { badRequestResponse, errorResponse, headerTooLargeResponse } from "./responses.ts";

export const DEFAULT_MAX_HEAD_BYTES = 32 * 1024;
/** Longest chunk-size line (size + extensions) accepted: extensions are padding for an attacker. */
const MAX_CHUNK_LINE = 4096;

// ---------------------------------------------------------------------------
// Types

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

/** Forward the request, with these edits to its head. */
export interface ForwardDecision {
  action: "forward";
  /** Appended to X-Forwarded-For (existing values kept, several headers merged into one). */
  forwardedFor?: string;
  /** Sets X-Forwarded-Proto, replacing what the client sent. */
  forwardedProto?: "http" | "https";
  /** Sets X-Forwarded-Host to the received Host header (true) or to this value. */
  forwardedHost?: boolean | string;
  /** Replaces the Host header value (rule `rewriteHost`); an absolute-form target becomes origin-form. */
  host?: string;
  /** Header names (lowercase) to drop. */
  removeHeaders?: readonly string[];
  /** Headers to set, replacing any of the same name. */
  setHeaders?: readonly (readonly [string, string])[];
}

export type HeadDecision =
  | ForwardDecision
  /** Answer locally with these bytes (e.g. from responses.ts) and close. */
  | { action: "respond"; response: Uint8Array }
  /** Close without an answer (firewall drop). */
  | { action: "reject" }
  /** Forward nothing more: this request belongs elsewhere (another tunnel); close. */
  | { action: "stop" };

export type RequestStreamErrorCode =
  | "headTooLarge"
  | "badRequest"
  | "badFraming"
  | "badHost"
  | "notHttp"
  | "http2"
  | "unsupportedVersion"
  | "decisionFailed";

export type RequestStreamEnd =
  | { reason: "respond"; head: RequestHead; response: Uint8Array }
  | { reason: "reject"; head: RequestHead; response: null }
  | { reason: "stop"; head: RequestHead; response: null }
  /** `response` is the answer to write before closing; null when none makes sense (HTTP/2 preface). */
  | { reason: "error"; code: RequestStreamErrorCode; status: number; message: string; response: Uint8Array | null };

export interface RequestStreamOptions {
  /** Largest request head (request line + headers + empty line); larger gives 431. Also caps chunked trailers. */
  maxHeadBytes?: number;
  onHead(head: RequestHead): HeadDecision | Promise<HeadDecision>;
  /** Bytes for the tunnel, in order. Views of pushed chunks or fresh arrays; never reused by the engine. */
  onForward(bytes: Uint8Array): void;
  /** Called once when the stream ends by a decision or an error. */
  onEnd(end: RequestStreamEnd): void;
  /** An async decision settled and the stream accepts input again (after `push` returned false). */
  onResume?(): void;
}

export type RequestStreamState = "head" | "body" | "passThrough" | "waiting" | "ended";

export interface RequestStream {
  /**
   * Feeds bytes from the client. Returns false while an async decision is pending
   * (the bytes are queued; the caller should stop reading until `onResume`) or after
   * the stream ended (the bytes are dropped).
   */
  push(chunk: Uint8Array): boolean;
  readonly state: RequestStreamState;
  /** Request heads parsed so far. */
  readonly requests: number;
  /** Drops buffers and ignores further input (connection closed). */
  close(): void;
}

// ---------------------------------------------------------------------------
// Byte tables

const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

// Hex digit value + 1 (0 = not hex).
const HEX = new Uint8Array(256);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i + 1;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 11 + i;
  HEX[0x61 + i] = 11 + i;
}

const CR = 13;
const LF = 10;
const CRLFCRLF = Buffer.from("\r\n\r\n");

// Body states.
const S_HEAD = 0;
const S_LENGTH = 1;
const S_CHUNK_SIZE = 2;
const S_CHUNK_SIZE_WS = 3;
const S_CHUNK_EXT = 4;
const S_CHUNK_SIZE_LF = 5;
const S_CHUNK_DATA = 6;
const S_CHUNK_DATA_CR = 7;
const S_CHUNK_DATA_LF = 8;
const S_TRAILER_START = 9;
const S_TRAILER_NAME = 10;
const S_TRAILER_VALUE = 11;
const S_TRAILER_LF = 12;
const S_TRAILER_END_LF = 13;
const S_PASS = 14;
const S_WAIT = 15;
const S_ENDED = 16;

class ParseError extends Error {
  constructor(
    readonly code: RequestStreamErrorCode,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------
// Head parsing

/**
 * Parses a head held in `buf[start, end)`, `end` just past the final CRLFCRLF.
 * Throws ParseError.
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
    throw new ParseError(index === 0 && !looksLikeRequestLine(line) ? "notHttp" : "badRequest", 400, "malformed request line");
  }
  const method = line.slice(0, sp1);
  for (let i = 0; i < method.length; i++) {
    if (TOKEN[method.charCodeAt(i)] === 0) throw new ParseError("badRequest", 400, "malformed method");
  }
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (method === "PRI" && target === "*" && version === "HTTP/2.0") {
    throw new ParseError("http2", 0, "HTTP/2 connection preface on an HTTP/1 port");
  }
  if (version === "HTTP/1.1" || version === "HTTP/1.0") head.version = version;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new ParseError("unsupportedVersion", 505, `unsupported version ${version}`);
  else throw new ParseError("badRequest", 400, "malformed HTTP version");
  if (target.length === 0) throw new ParseError("badRequest", 400, "empty request target");
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) throw new ParseError("badRequest", 400, "invalid character in request target");
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
    if (colon < 0 || colon > eol) throw new ParseError("badRequest", 400, "header line without a colon");
    if (colon === p) throw new ParseError("badRequest", 400, "empty header name");
    for (let i = p; i < colon; i++) {
      // Also rejects obs-fold (a line starting with SP/HTAB) and whitespace before the colon.
      if (TOKEN[text.charCodeAt(i)] === 0) throw new ParseError("badRequest", 400, "invalid header name");
    }
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (text.charCodeAt(vs) === 0x20 || text.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (text.charCodeAt(ve - 1) === 0x20 || text.charCodeAt(ve - 1) === 0x09)) ve--;
    const name = text.slice(p, colon);
    const value = text.slice(vs, ve);
    // CR, LF and NUL must not appear in a field value (RFC 9110 §5.5).
    if (value.indexOf("\r") >= 0 || value.indexOf("\n") >= 0 || value.indexOf("\0") >= 0) {
      throw new ParseError("badRequest", 400, "invalid character in header value");
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
  if (hostCount > 1) throw new ParseError("badHost", 400, "more than one Host header");
  if (hostCount === 0 && head.version === "HTTP/1.1") throw new ParseError("badHost", 400, "missing Host header");
  let authority: string | null = head.hostHeader;
  const c0 = target.charCodeAt(0);
  if (method === "CONNECT") {
    authority = target;
  } else if (c0 === 0x2f /* / */) {
    // origin-form
  } else if (target === "*") {
    if (method !== "OPTIONS") throw new ParseError("badRequest", 400, "asterisk target outside OPTIONS");
  } else {
    authority = absoluteAuthority(target);
  }
  if (head.hostHeader !== null) {
    const hp = parseHostHeader(head.hostHeader);
    if (hp === null) throw new ParseError("badHost", 400, "invalid Host header");
    if (authority === head.hostHeader) setHost(head, hp.hostname, hp.port);
  }
  if (authority !== null && authority !== head.hostHeader) {
    const hp = parseHostHeader(authority);
    if (hp === null || (method === "CONNECT" && hp.port === null)) throw new ParseError("badHost", 400, "invalid authority in request target");
    setHost(head, hp.hostname, hp.port);
  }

  // Message body length (RFC 9112 §6.3).
  if (transferEncoding !== null) {
    if (contentLength !== null) throw new ParseError("badFraming", 400, "both Content-Length and Transfer-Encoding");
    if (head.version === "HTTP/1.0") throw new ParseError("badFraming", 400, "Transfer-Encoding in an HTTP/1.0 request");
    const codings = transferEncoding.join(",").split(",");
    let last = "";
    let chunkedCount = 0;
    for (const c of codings) {
      const coding = c.trim().toLowerCase();
      if (coding === "") continue;
      if (coding === "chunked") chunkedCount++;
      last = coding;
    }
    if (last !== "chunked" || chunkedCount !== 1) throw new ParseError("badFraming", 400, "Transfer-Encoding must end with a single chunked");
    head.body = "chunked";
  } else if (contentLength !== null) {
    let n = -1;
    for (const v of contentLength.join(",").split(",")) {
      const m = parseContentLength(v.trim());
      if (m < 0 || (n >= 0 && m !== n)) throw new ParseError("badFraming", 400, "invalid Content-Length");
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
  if (scheme !== "http" && scheme !== "https") throw new ParseError("badRequest", 400, "malformed request target");
  let end = target.length;
  for (const ch of ["/", "?", "#"]) {
    const i = target.indexOf(ch, sep + 3);
    if (i >= 0 && i < end) end = i;
  }
  const authority = target.slice(sep + 3, end);
  if (authority.includes("@")) throw new ParseError("badRequest", 400, "user information in request target");
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

// ---------------------------------------------------------------------------
// Head rewriting

/** The head as bytes for the tunnel, edited by the decision. */
export function buildForwardedHead(head: RequestHead, d: ForwardDecision): Buffer {
  const remove = d.removeHeaders;
  const set = d.setHeaders;
  const proto = d.forwardedProto;
  const fwdHost = d.forwardedHost === true ? head.hostHeader : d.forwardedHost || null;
  const rewriteHost = d.host;
  let target = head.target;
  if (rewriteHost !== undefined) {
    if (/[\r\n]/.test(rewriteHost)) throw new Error("Host value contains a line break");
    if (target.charCodeAt(0) !== 0x2f && target !== "*" && head.method !== "CONNECT") target = originForm(target);
  }
  let out = `${head.method} ${target} ${head.version}\r\n`;
  let xff: string | null = null;
  const { names, values, lowerNames } = head;
  for (let i = 0; i < names.length; i++) {
    const l = lowerNames[i];
    if (l.length >= 15 && l.charCodeAt(0) === 0x78 /* x */) {
      if (l === "x-forwarded-for" && d.forwardedFor !== undefined) {
        xff = xff === null ? values[i] : `${xff}, ${values[i]}`;
        continue;
      }
      if (l === "x-forwarded-proto" && proto !== undefined) continue;
      if (l === "x-forwarded-host" && fwdHost !== null) continue;
    }
    if (remove !== undefined && remove.includes(l)) continue;
    if (set !== undefined && hasName(set, l)) continue;
    if (l === "host" && rewriteHost !== undefined) {
      out += `${names[i]}: ${rewriteHost}\r\n`;
      continue;
    }
    out += `${names[i]}: ${values[i]}\r\n`;
  }
  if (d.forwardedFor !== undefined) out += `X-Forwarded-For: ${xff === null || xff === "" ? d.forwardedFor : `${xff}, ${d.forwardedFor}`}\r\n`;
  if (proto !== undefined) out += `X-Forwarded-Proto: ${proto}\r\n`;
  if (fwdHost !== null) out += `X-Forwarded-Host: ${fwdHost}\r\n`;
  if (set !== undefined) {
    for (const [n, v] of set) {
      if (/[\r\n]/.test(n) || /[\r\n]/.test(v)) throw new Error(`header ${JSON.stringify(n)} contains a line break`);
      out += `${n}: ${v}\r\n`;
    }
  }
  out += "\r\n";
  return Buffer.from(out, "latin1");
}

function hasName(set: readonly (readonly [string, string])[], lname: string): boolean {
  for (const [n] of set) if (n.length === lname.length && n.toLowerCase() === lname) return true;
  return false;
}

function originForm(absolute: string): string {
  const start = absolute.indexOf("://") + 3;
  let i = start;
  while (i < absolute.length) {
    const c = absolute.charCodeAt(i);
    if (c === 0x2f || c === 0x3f || c === 0x23) break;
    i++;
  }
  const rest = absolute.slice(i);
  return rest === "" ? "/" : rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

function isEmptyForward(d: ForwardDecision): boolean {
  return (
    d.forwardedFor === undefined &&
    d.forwardedProto === undefined &&
    !d.forwardedHost &&
    d.host === undefined &&
    (d.removeHeaders === undefined || d.removeHeaders.length === 0) &&
    (d.setHeaders === undefined || d.setHeaders.length === 0)
  );
}

// ---------------------------------------------------------------------------
// The stream

export function createRequestStream(opts: RequestStreamOptions): RequestStream {
  return new RequestStreamImpl(opts);
}

class RequestStreamImpl implements RequestStream {
  private readonly maxHead: number;
  private s = S_HEAD;
  private count = 0;
  // Partial head across reads.
  private headBuf: Buffer | null = null;
  private headLen = 0;
  private lfChecked = false;
  // Body tracking.
  private remaining = 0;
  private chunkSize = 0;
  private chunkDigits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  // Async decisions.
  private pending: Uint8Array[] = [];
  private waitingHead: RequestHead | null = null;
  private waitingRaw: Buffer | null = null;
  private afterWait = S_HEAD;
  private processing = false;

  constructor(private readonly o: RequestStreamOptions) {
    this.maxHead = o.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
  }

  get state(): RequestStreamState {
    switch (this.s) {
      case S_HEAD:
        return "head";
      case S_PASS:
        return "passThrough";
      case S_WAIT:
        return "waiting";
      case S_ENDED:
        return "ended";
      default:
        return "body";
    }
  }

  get requests(): number {
    return this.count;
  }

  push(chunk: Uint8Array): boolean {
    if (this.s === S_ENDED) return false;
    if (chunk.length > 0) this.pending.push(chunk);
    // Re-entrant pushes (from a callback) and pushes during an async decision stay
    // queued in arrival order; the running drain or the decision's resume takes them.
    if (!this.processing && this.s !== S_WAIT) this.drain();
    return this.s !== S_WAIT && this.s !== S_ENDED;
  }

  close(): void {
    this.s = S_ENDED;
    this.headBuf = null;
    this.pending = [];
    this.waitingHead = null;
    this.waitingRaw = null;
  }

  // -------------------------------------------------------------------------

  private process(buf: Buffer): void {
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      const s = this.s;
      if (s === S_HEAD) {
        pos = this.readHead(buf, pos);
        if (pos < 0) return;
      } else if (s === S_LENGTH) {
        const n = Math.min(this.remaining, len - pos);
        this.o.onForward(pos === 0 && n === len ? buf : buf.subarray(pos, pos + n));
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0 && this.s === S_LENGTH) this.s = S_HEAD;
      } else if (s === S_PASS) {
        this.o.onForward(pos === 0 ? buf : buf.subarray(pos));
        return;
      } else if (s === S_WAIT) {
        this.pending.unshift(buf.subarray(pos));
        return;
      } else if (s === S_ENDED) {
        return;
      } else {
        const start = pos;
        pos = this.readChunked(buf, pos);
        if (pos < 0) return; // error, already ended
        if (pos > start) this.o.onForward(start === 0 && pos === len ? buf : buf.subarray(start, pos));
      }
    }
  }

  /** Reads (the rest of) a head starting at `pos`; returns the position after it, or -1 (need more / ended / waiting). */
  private readHead(buf: Buffer, pos: number): number {
    const len = buf.length;
    let headStart: number;
    let headEnd: number;
    let src: Buffer;
    if (this.headLen === 0) {
      // RFC 9112 §2.2: ignore empty lines before a request line.
      while (pos + 1 < len && buf[pos] === CR && buf[pos + 1] === LF) pos += 2;
      if (pos === len) return -1;
      if (!(buf[pos] === CR && pos + 1 === len) && TOKEN[buf[pos]] === 0) {
        return this.fail(new ParseError(this.count === 0 ? "notHttp" : "badRequest", 400, "not an HTTP request"));
      }
      const limit = Math.min(len, pos + this.maxHead);
      const i = (limit === len ? buf : buf.subarray(0, limit)).indexOf(CRLFCRLF, pos);
      if (i >= 0) {
        src = buf;
        headStart = pos;
        headEnd = i + 4;
      } else {
        if (limit < len) return this.fail(new ParseError("headTooLarge", 431, "request head too large"));
        if (!this.checkBareLf(buf, pos, len)) return -1;
        buf.copy(this.headSpace(len - pos), 0, pos, len);
        this.headLen = len - pos;
        return -1;
      }
    } else {
      const old = this.headLen;
      const n = Math.min(len - pos, this.maxHead - old);
      const hb = this.headSpace(old + n);
      buf.copy(hb, old, pos, pos + n);
      let hs = 0;
      // A lone CR kept from the previous read may begin an empty line.
      while (hs + 1 < old + n && hb[hs] === CR && hb[hs + 1] === LF) hs += 2;
      if (hs === old + n) {
        this.headLen = 0;
        return pos + n;
      }
      if (hs > 0 && TOKEN[hb[hs]] === 0 && !(hb[hs] === CR && hs + 1 === old + n)) {
        return this.fail(new ParseError(this.count === 0 ? "notHttp" : "badRequest", 400, "not an HTTP request"));
      }
      const i = hb.subarray(0, old + n).indexOf(CRLFCRLF, Math.max(hs, old - 3));
      if (i < 0) {
        this.headLen = old + n;
        if (this.headLen >= this.maxHead) return this.fail(new ParseError("headTooLarge", 431, "request head too large"));
        if (!this.checkBareLf(hb, hs, this.headLen)) return -1;
        return -1;
      }
      src = hb;
      headStart = hs;
      headEnd = i + 4;
      pos = pos + (headEnd - old);
      this.headLen = 0;
    }
    if (src === buf) pos = headEnd;
    this.lfChecked = false;

    let head: RequestHead;
    try {
      head = parseRequestHead(src, headStart, headEnd, this.count);
    } catch (err) {
      if (err instanceof ParseError) return this.fail(err);
      throw err;
    }
    this.count++;
    // The head buffer is reused for the next head: forward a copy of its bytes.
    const raw = src === buf ? buf.subarray(headStart, headEnd) : Buffer.from(src.subarray(headStart, headEnd));

    let decision: HeadDecision | Promise<HeadDecision>;
    try {
      decision = this.o.onHead(head);
    } catch (err) {
      return this.fail(new ParseError("decisionFailed", 500, `request handler failed: ${(err as Error)?.message ?? err}`));
    }
    if (this.s === S_ENDED) return -1; // closed from inside onHead
    if (decision !== null && typeof decision === "object" && typeof (decision as Promise<HeadDecision>).then === "function") {
      this.s = S_WAIT;
      this.waitingHead = head;
      this.waitingRaw = raw;
      if (pos < len) this.pending.unshift(buf.subarray(pos));
      (decision as Promise<HeadDecision>).then(
        (d) => this.resume(d),
        (err) => this.resumeFailed(err),
      );
      return -1;
    }
    return this.apply(head, raw, decision as HeadDecision) ? pos : -1;
  }

  /**
   * The partial-head buffer with room for `need` bytes. It starts small and grows
   * up to maxHeadBytes, so idle connections holding half a head stay cheap.
   */
  private headSpace(need: number): Buffer {
    const cur = this.headBuf;
    if (cur !== null && cur.length >= need) return cur;
    const next = Buffer.allocUnsafe(Math.min(this.maxHead, Math.max(need, 2048, (cur?.length ?? 0) * 2)));
    if (cur !== null && this.headLen > 0) cur.copy(next, 0, 0, this.headLen);
    this.headBuf = next;
    return next;
  }

  /** LF-only line endings never produce CRLFCRLF: refuse them at the first line instead of waiting. */
  private checkBareLf(b: Buffer, from: number, to: number): boolean {
    if (this.lfChecked) return true;
    const lf = b.subarray(0, to).indexOf(LF, from);
    if (lf < 0) return true;
    if (lf === from || b[lf - 1] !== CR) {
      this.fail(new ParseError("badRequest", 400, "bare LF in request head"));
      return false;
    }
    this.lfChecked = true;
    return true;
  }

  /** Acts on a decision; false when the stream ended. */
  private apply(head: RequestHead, raw: Buffer, d: HeadDecision): boolean {
    switch (d.action) {
      case "forward": {
        let bytes: Uint8Array;
        try {
          bytes = isEmptyForward(d) ? raw : buildForwardedHead(head, d);
        } catch (err) {
          this.fail(new ParseError("decisionFailed", 500, `bad header edit: ${(err as Error).message}`));
          return false;
        }
        if (head.upgrade) this.s = S_PASS;
        else if (head.body === "length") {
          this.s = S_LENGTH;
          this.remaining = head.contentLength;
        } else if (head.body === "chunked") {
          this.s = S_CHUNK_SIZE;
          this.chunkSize = 0;
          this.chunkDigits = 0;
          this.lineBytes = 0;
          this.trailerBytes = 0;
        } else this.s = S_HEAD;
        this.o.onForward(bytes);
        return this.s !== S_ENDED;
      }
      case "respond":
        this.end({ reason: "respond", head, response: d.response });
        return false;
      case "reject":
        this.end({ reason: "reject", head, response: null });
        return false;
      case "stop":
        this.end({ reason: "stop", head, response: null });
        return false;
      default:
        this.fail(new ParseError("decisionFailed", 500, `unknown decision ${(d as { action: unknown }).action}`));
        return false;
    }
  }

  private resume(d: HeadDecision): void {
    if (this.s !== S_WAIT) return; // closed meanwhile
    const head = this.waitingHead!;
    const raw = this.waitingRaw!;
    this.waitingHead = null;
    this.waitingRaw = null;
    this.s = S_HEAD;
    // Pushes made from inside onForward must queue behind the chunks already waiting.
    this.processing = true;
    let ok: boolean;
    try {
      ok = this.apply(head, raw, d);
    } finally {
      this.processing = false;
    }
    if (!ok) return;
    this.drain();
    if (this.s !== S_WAIT && this.s !== S_ENDED) this.o.onResume?.();
  }

  private resumeFailed(err: unknown): void {
    if (this.s !== S_WAIT) return;
    this.waitingHead = null;
    this.waitingRaw = null;
    this.s = S_HEAD;
    this.fail(new ParseError("decisionFailed", 500, `request handler failed: ${(err as Error)?.message ?? err}`));
  }

  private drain(): void {
    this.processing = true;
    try {
      while (this.pending.length > 0 && this.s !== S_WAIT && this.s !== S_ENDED) {
        const c = this.pending.shift()!;
        this.process(Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      }
    } finally {
      this.processing = false;
    }
  }

  /**
   * Advances the chunked-body state machine over `buf[pos..]`. Returns the position
   * where the body ended (state back to S_HEAD) or `buf.length`, or -1 on error.
   * Data bytes are skipped in bulk; only framing bytes are looked at one by one.
   */
  private readChunked(buf: Buffer, pos: number): number {
    const len = buf.length;
    let s = this.s;
    while (pos < len) {
      if (s === S_CHUNK_DATA) {
        const n = Math.min(this.remaining, len - pos);
        pos += n;
        this.remaining -= n;
        if (this.remaining === 0) s = S_CHUNK_DATA_CR;
        continue;
      }
      const c = buf[pos++];
      switch (s) {
        case S_CHUNK_SIZE: {
          const h = HEX[c];
          if (h !== 0) {
            if (this.chunkSize === 0 && h === 1) {
              this.chunkDigits = Math.max(this.chunkDigits, 1);
            } else {
              // 13 significant hex digits keep the size below 2^53.
              if (++this.chunkDigits > 13) return this.chunkError("chunk size too large");
              this.chunkSize = this.chunkSize * 16 + (h - 1);
            }
            break;
          }
          if (this.chunkDigits === 0) return this.chunkError("missing chunk size");
          if (c === CR) s = S_CHUNK_SIZE_LF;
          else if (c === 0x3b /* ; */) s = S_CHUNK_EXT;
          else if (c === 0x20 || c === 0x09) s = S_CHUNK_SIZE_WS;
          else return this.chunkError("invalid chunk size");
          break;
        }
        case S_CHUNK_SIZE_WS:
          if (c === 0x3b) s = S_CHUNK_EXT;
          else if (c === CR) s = S_CHUNK_SIZE_LF;
          else if (c !== 0x20 && c !== 0x09) return this.chunkError("invalid chunk size line");
          break;
        case S_CHUNK_EXT:
          if (c === CR) s = S_CHUNK_SIZE_LF;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) return this.chunkError("invalid chunk extension");
          else if (++this.lineBytes > MAX_CHUNK_LINE) return this.chunkError("chunk extensions too long");
          break;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) return this.chunkError("bare CR in chunk size line");
          this.lineBytes = 0;
          if (this.chunkSize === 0) {
            s = S_TRAILER_START;
          } else {
            this.remaining = this.chunkSize;
            s = S_CHUNK_DATA;
          }
          this.chunkSize = 0;
          this.chunkDigits = 0;
          break;
        case S_CHUNK_DATA_CR:
          if (c !== CR) return this.chunkError("chunk data longer than its size");
          s = S_CHUNK_DATA_LF;
          break;
        case S_CHUNK_DATA_LF:
          if (c !== LF) return this.chunkError("bare CR after chunk data");
          s = S_CHUNK_SIZE;
          break;
        case S_TRAILER_START:
          if (++this.trailerBytes > this.maxHead) return this.trailerTooLarge();
          if (c === CR) s = S_TRAILER_END_LF;
          else if (TOKEN[c] === 1) s = S_TRAILER_NAME;
          else return this.chunkError("invalid trailer field");
          break;
        case S_TRAILER_NAME:
          if (++this.trailerBytes > this.maxHead) return this.trailerTooLarge();
          if (c === 0x3a /* : */) s = S_TRAILER_VALUE;
          else if (TOKEN[c] === 0) return this.chunkError("invalid trailer field name");
          break;
        case S_TRAILER_VALUE:
          if (++this.trailerBytes > this.maxHead) return this.trailerTooLarge();
          if (c === CR) s = S_TRAILER_LF;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) return this.chunkError("invalid character in trailer field");
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.chunkError("bare CR in trailer");
          s = S_TRAILER_START;
          break;
        case S_TRAILER_END_LF:
          if (c !== LF) return this.chunkError("bare CR after trailers");
          this.s = S_HEAD;
          return pos;
      }
    }
    this.s = s;
    return pos;
  }

  private chunkError(message: string): number {
    return this.fail(new ParseError("badFraming", 400, message));
  }

  private trailerTooLarge(): number {
    return this.fail(new ParseError("headTooLarge", 431, "chunked trailers too large"));
  }

  private fail(err: ParseError): -1 {
    const response =
      err.code === "http2"
        ? null
        : err.status === 431
          ? headerTooLargeResponse()
          : err.status === 400
            ? badRequestResponse(err.code === "notHttp" ? "This port speaks plain HTTP." : `Bad request: ${err.message}.`)
            : errorResponse(err.status, err.message);
    this.end({ reason: "error", code: err.code, status: err.status, message: err.message, response });
    return -1;
  }

  private end(e: RequestStreamEnd): void {
    if (this.s === S_ENDED) return;
    this.close();
    this.o.onEnd(e);
  }
}
