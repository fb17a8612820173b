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
 * Framing is strict where proxies and servers could disagree (request smuggling):
 * the head rules are in request-head.ts; here bare CR or LF and malformed chunked
 * framing give 400. Head edits are in head-rewrite.ts.
 *
 * Chunks passed to `push` are not copied: body bytes reach `onForward` as views of
 * them, so a chunk must not be modified after it was pushed.
 */
import { buildForwardedHead, type ForwardDecision, isEmptyForward } from "./head-rewrite.ts";
import { parseRequestHead, type RequestErrorCode, type RequestHead, RequestParseError, TOKEN } from "./request-head.ts";
import { badRequestResponse, errorResponse, headerTooLargeResponse } from "./responses.ts";

export const DEFAULT_MAX_HEAD_BYTES = 32 * 1024;
/** Longest chunk-size line (size + extensions) accepted: extensions are padding for an attacker. */
const MAX_CHUNK_LINE = 4096;

export type HeadDecision =
  | ForwardDecision
  /** Answer locally with these bytes (e.g. from responses.ts) and close. */
  | { action: "respond"; response: Uint8Array }
  /** Close without an answer (firewall drop). */
  | { action: "reject" }
  /** Forward nothing more: this request belongs elsewhere (another tunnel); close. */
  | { action: "stop" };

export type RequestStreamEnd =
  | { reason: "respond"; head: RequestHead; response: Uint8Array }
  | { reason: "reject"; head: RequestHead; response: null }
  | { reason: "stop"; head: RequestHead; response: null }
  /** `response` is the answer to write before closing; null when none makes sense (HTTP/2 preface). */
  | { reason: "error"; code: RequestErrorCode; status: number; message: string; response: Uint8Array | null };

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
  /**
   * Client bytes held: a partial head (at most maxHeadBytes) plus what was pushed while
   * an async decision was pending. Body bytes are never held.
   */
  readonly buffered: number;
  /** Drops buffers and ignores further input (connection closed). */
  close(): void;
}

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

  get buffered(): number {
    let n = this.headLen;
    for (const c of this.pending) n += c.length;
    return n;
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
    this.headLen = 0;
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
        return this.fail(new RequestParseError(this.count === 0 ? "notHttp" : "badRequest", 400, "not an HTTP request"));
      }
      const limit = Math.min(len, pos + this.maxHead);
      const i = (limit === len ? buf : buf.subarray(0, limit)).indexOf(CRLFCRLF, pos);
      if (i >= 0) {
        src = buf;
        headStart = pos;
        headEnd = i + 4;
      } else {
        if (limit < len) return this.fail(new RequestParseError("headTooLarge", 431, "request head too large"));
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
      if (TOKEN[hb[hs]] === 0 && !(hb[hs] === CR && hs + 1 === old + n)) {
        return this.fail(new RequestParseError(this.count === 0 ? "notHttp" : "badRequest", 400, "not an HTTP request"));
      }
      const i = hb.subarray(0, old + n).indexOf(CRLFCRLF, Math.max(hs, old - 3));
      if (i < 0) {
        this.headLen = old + n;
        if (this.headLen >= this.maxHead) return this.fail(new RequestParseError("headTooLarge", 431, "request head too large"));
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
      if (err instanceof RequestParseError) return this.fail(err);
      throw err;
    }
    this.count++;
    // The head buffer is reused for the next head: forward a copy of its bytes.
    const raw = src === buf ? buf.subarray(headStart, headEnd) : Buffer.from(src.subarray(headStart, headEnd));

    let decision: HeadDecision | Promise<HeadDecision>;
    try {
      decision = this.o.onHead(head);
    } catch (err) {
      return this.fail(new RequestParseError("decisionFailed", 500, `request handler failed: ${(err as Error)?.message ?? err}`));
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
      this.fail(new RequestParseError("badRequest", 400, "bare LF in request head"));
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
          this.fail(new RequestParseError("decisionFailed", 500, `bad header edit: ${(err as Error).message}`));
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
        this.fail(new RequestParseError("decisionFailed", 500, `unknown decision ${(d as { action: unknown }).action}`));
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
    this.fail(new RequestParseError("decisionFailed", 500, `request handler failed: ${(err as Error)?.message ?? err}`));
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
    return this.fail(new RequestParseError("badFraming", 400, message));
  }

  private trailerTooLarge(): number {
    return this.fail(new RequestParseError("headTooLarge", 431, "chunked trailers too large"));
  }

  private fail(err: RequestParseError): -1 {
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
