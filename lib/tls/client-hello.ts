/**
 * Incremental reader of a TLS ClientHello's server name (SNI), for the public HTTPS
 * listener: it peeks at the first bytes of a raw TCP connection to choose between
 * terminating TLS itself and passing the bytes through untouched to a tunnel.
 *
 * Wire format (RFC 8446 §5.1, §4.1.2; RFC 6066 §3):
 *   record    = type(1)=22 version(2)=3.x length(2) fragment(length <= 2^14)
 *   handshake = msg_type(1)=1 length(3) ClientHello — may be split over several records
 *   ClientHello = version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
 *                 compression_methods<1..2^8-1> [extensions<0..2^16-1>]
 *   server_name extension (type 0) = ServerNameList<1..2^16-1> of
 *                 name_type(1) (0 = host_name) HostName<1..2^16-1>
 *
 * An IP address literal in host_name (not allowed, but sent by some clients) is
 * reported as no SNI, like a ClientHello without the extension.
 *
 * The reader never copies a ClientHello that arrives whole in one read, keeps every
 * byte it was given so the caller can replay them (`bytes()`), and stops buffering at
 * a fixed cap, so a slow or hostile peer cannot make it hold more than ~17 KiB.
 */
import { isIP } from "node:net";
import { normalizeSniHostname } from "../net/hostname.ts";

export type ClientHelloResult =
  /** More bytes are needed. */
  | { status: "incomplete" }
  /** A well-formed ClientHello; `sni` is null when it carries no host_name (client connected by IP). */
  | { status: "hello"; sni: string | null }
  /** The first bytes are not a TLS handshake record (plain HTTP on the HTTPS port, SSLv2, ...). */
  | { status: "notTls" }
  /** TLS, but malformed, not a ClientHello, an invalid host name, or over the size cap. */
  | { status: "error"; reason: string };

export interface ClientHelloReaderOptions {
  /** Largest ClientHello handshake message accepted (header included). Default 16 KiB. */
  maxHelloBytes?: number;
  /** Largest number of bytes buffered before giving up (records add 5 bytes each). Default maxHelloBytes + 1 KiB. */
  maxBufferedBytes?: number;
}

export interface ClientHelloReader {
  /**
   * Feeds the next bytes read from the connection; answers the state so far. After a
   * "hello" answer further chunks are still appended to `bytes()` (no cap then: switch
   * to piping promptly); after "notTls" or "error" they are dropped.
   */
  push(chunk: Uint8Array): ClientHelloResult;
  /** Every byte pushed so far, in order (to be replayed to whoever handles the connection). */
  bytes(): Uint8Array;
  /** The last answer given by `push`. */
  readonly result: ClientHelloResult;
}

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
const MAX_RECORD_PAYLOAD = 16384; // 2^14, RFC 8446 §5.1
const EXT_SERVER_NAME = 0;

const INCOMPLETE: ClientHelloResult = Object.freeze({ status: "incomplete" });
const NOT_TLS: ClientHelloResult = Object.freeze({ status: "notTls" });

const fail = (reason: string): ClientHelloResult => ({ status: "error", reason });

/** Creates a reader for one connection. */
export function createClientHelloReader(opts: ClientHelloReaderOptions = {}): ClientHelloReader {
  const maxHello = opts.maxHelloBytes ?? 16384;
  const maxBuffered = opts.maxBufferedBytes ?? maxHello + 1024;

  // Bytes received so far: the first chunk by reference; copied only once a second arrives.
  let buf: Uint8Array = new Uint8Array(0);
  let len = 0;
  let owned = false;
  // Offset in `buf` of the next record header not yet consumed.
  let recPos = 0;
  // Handshake bytes gathered from the records consumed so far.
  const fragments: Uint8Array[] = [];
  let hsLen = 0;
  let result: ClientHelloResult = INCOMPLETE;

  function append(chunk: Uint8Array): void {
    if (len === 0 && !owned) {
      buf = chunk;
      len = chunk.length;
      return;
    }
    if (!owned || len + chunk.length > buf.length) {
      const next = new Uint8Array(Math.max(len + chunk.length, Math.min(buf.length * 2, maxBuffered + MAX_RECORD_PAYLOAD)));
      next.set(buf.subarray(0, len));
      buf = next;
      owned = true;
    }
    buf.set(chunk, len);
    len += chunk.length;
  }

  function advance(): ClientHelloResult {
    // The first bytes decide "TLS or not" before a whole record is in, so a plain
    // HTTP request on the HTTPS port is recognised at once.
    if (recPos === 0) {
      if (len >= 1 && buf[0] !== RECORD_HANDSHAKE) return NOT_TLS;
      if (len >= 2 && buf[1] !== 3) return NOT_TLS;
    }
    while (len - recPos >= RECORD_HEADER) {
      const type = buf[recPos];
      const major = buf[recPos + 1];
      const minor = buf[recPos + 2];
      const recLen = (buf[recPos + 3] << 8) | buf[recPos + 4];
      if (recPos === 0 && minor > 4) return NOT_TLS;
      if (type !== RECORD_HANDSHAKE) return fail("unexpected record type before the ClientHello was complete");
      if (major !== 3 || minor > 4) return fail("bad record version");
      if (recLen === 0) return fail("empty handshake record");
      if (recLen > MAX_RECORD_PAYLOAD) return fail("record too long");
      if (len - recPos - RECORD_HEADER < recLen) break;
      const frag = buf.subarray(recPos + RECORD_HEADER, recPos + RECORD_HEADER + recLen);
      recPos += RECORD_HEADER + recLen;
      fragments.push(frag);
      hsLen += recLen;
      if (hsLen >= 4) {
        const first = fragments.length === 1 ? fragments[0] : concat(fragments, 4);
        if (first[0] !== HANDSHAKE_CLIENT_HELLO) return fail("first handshake message is not a ClientHello");
        const msgLen = (first[1] << 16) | (first[2] << 8) | first[3];
        if (msgLen + 4 > maxHello) return fail(`ClientHello larger than ${maxHello} bytes`);
        if (hsLen >= msgLen + 4) {
          const msg = fragments.length === 1 ? fragments[0] : concat(fragments, msgLen + 4);
          return parseClientHelloBody(msg.subarray(4, 4 + msgLen));
        }
      }
    }
    if (len > maxBuffered) return fail(`no complete ClientHello within ${maxBuffered} bytes`);
    return INCOMPLETE;
  }

  return {
    push(chunk) {
      if (result.status === "notTls" || result.status === "error") return result;
      append(chunk);
      if (result.status === "hello") return result;
      result = advance();
      return result;
    },
    bytes() {
      return buf.subarray(0, len);
    },
    get result() {
      return result;
    },
  };
}

/** One-shot form of the reader, for bytes already gathered. */
export function readClientHello(bytes: Uint8Array, opts?: ClientHelloReaderOptions): ClientHelloResult {
  return createClientHelloReader(opts).push(bytes);
}

function concat(parts: Uint8Array[], need: number): Uint8Array {
  const out = new Uint8Array(need);
  let off = 0;
  for (const p of parts) {
    const n = Math.min(p.length, need - off);
    out.set(n === p.length ? p : p.subarray(0, n), off);
    off += n;
    if (off === need) break;
  }
  return out;
}

/** Parses the ClientHello body (after the 4-byte handshake header) down to the server name. */
function parseClientHelloBody(b: Uint8Array): ClientHelloResult {
  const end = b.length;
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > end) return fail("truncated ClientHello");
  const sidLen = b[p];
  if (sidLen > 32) return fail("session id longer than 32 bytes");
  p += 1 + sidLen;
  if (p + 2 > end) return fail("truncated ClientHello");
  const csLen = (b[p] << 8) | b[p + 1];
  if (csLen < 2 || csLen % 2 !== 0) return fail("bad cipher suites length");
  p += 2 + csLen;
  if (p + 1 > end) return fail("truncated ClientHello");
  const cmLen = b[p];
  if (cmLen < 1) return fail("no compression methods");
  p += 1 + cmLen;
  if (p > end) return fail("truncated ClientHello");
  // A ClientHello may end here (no extensions at all, SSLv3/TLS 1.0 style).
  if (p === end) return { status: "hello", sni: null };
  if (p + 2 > end) return fail("truncated extensions");
  const extTotal = (b[p] << 8) | b[p + 1];
  p += 2;
  if (p + extTotal !== end) return fail("extensions length does not match the ClientHello length");
  let sni: string | null = null;
  let seenServerName = false;
  const seen = new Set<number>();
  while (p < end) {
    if (p + 4 > end) return fail("truncated extension header");
    const type = (b[p] << 8) | b[p + 1];
    const extLen = (b[p + 2] << 8) | b[p + 3];
    p += 4;
    if (p + extLen > end) return fail("extension longer than the ClientHello");
    // RFC 8446 §4.2: no extension type may appear twice.
    if (seen.has(type)) return fail(`duplicate extension ${type}`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      seenServerName = true;
      const r = parseServerName(b, p, p + extLen);
      if (typeof r !== "string" && r !== null) return r;
      sni = r;
    }
    p += extLen;
  }
  return { status: "hello", sni: seenServerName ? sni : null };
}

function parseServerName(b: Uint8Array, p: number, end: number): string | null | ClientHelloResult {
  if (p + 2 > end) return fail("truncated server_name extension");
  const listLen = (b[p] << 8) | b[p + 1];
  p += 2;
  if (listLen === 0 || p + listLen !== end) return fail("bad server_name list length");
  let host: string | null = null;
  while (p < end) {
    if (p + 3 > end) return fail("truncated server name entry");
    const nameType = b[p];
    const nameLen = (b[p + 1] << 8) | b[p + 2];
    p += 3;
    if (nameLen === 0 || p + nameLen > end) return fail("bad server name length");
    if (nameType === 0) {
      // RFC 6066 §3: at most one name of each type.
      if (host !== null) return fail("more than one host_name in server_name");
      if (nameLen > 254) return fail("server name too long");
      let raw = "";
      for (let i = p; i < p + nameLen; i++) {
        if (b[i] >= 0x80) return fail("server name is not ASCII");
        raw += String.fromCharCode(b[i]);
      }
      // RFC 6066 forbids IP literals here, yet some clients (Bun's own TLS client
      // among them) send the address they dialled: that is "connected by IP", no SNI.
      if (isIP(raw) !== 0) {
        host = "";
      } else {
        const norm = normalizeSniHostname(raw);
        if (norm === null) return fail("invalid server name");
        host = norm;
      }
    }
    p += nameLen;
  }
  return host || null;
}
