// Frame codec: pure encoders and an incremental decoder. The frame table and payload
// rules are in frames.ts. Nothing here touches a socket.
import {
  checkFrameHeader,
  DEFAULT_MAX_PAYLOAD,
  FRAME_HEADER_SIZE,
  FrameType,
  type Frame,
  ProtocolError,
  readU32,
  toFrame,
} from "./frames.ts";

const textEncoder = new TextEncoder();

/** GOAWAY reasons are for logs; longer ones are cut so a close can never exceed a frame. */
export const MAX_GOAWAY_REASON = 1024;

/** Writes a 9-byte header at `off`. The caller guarantees room. */
export function writeFrameHeader(buf: Uint8Array, off: number, type: number, streamId: number, length: number): void {
  buf[off] = type;
  writeU32(buf, off + 1, streamId);
  writeU32(buf, off + 5, length);
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

function goAwayReasonBytes(reason: string): Uint8Array {
  const b = textEncoder.encode(reason);
  if (b.byteLength <= MAX_GOAWAY_REASON) return b;
  // Cut on a UTF-8 boundary (never inside a multi-byte sequence).
  let end = MAX_GOAWAY_REASON;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/** Payload bytes a frame will occupy on the wire (header excluded). */
export function framePayloadLength(f: Frame): number {
  switch (f.type) {
    case FrameType.OPEN:
      return f.meta.byteLength;
    case FrameType.DATA:
      return f.data.byteLength;
    case FrameType.WINDOW_UPDATE:
      return 4;
    case FrameType.FIN:
      return 0;
    case FrameType.RST:
      return 1;
    case FrameType.PING:
    case FrameType.PONG:
      return 8;
    case FrameType.MESSAGE:
      return f.body.byteLength;
    case FrameType.GOAWAY:
      return 1 + goAwayReasonBytes(f.reason).byteLength;
  }
}

function checkEncodable(f: Frame): void {
  const streamFrame = f.type <= FrameType.RST;
  if (!Number.isInteger(f.streamId) || f.streamId < 0 || f.streamId > 0xffff_ffff || streamFrame !== (f.streamId !== 0)) {
    throw new RangeError(`bad stream id ${f.streamId} for frame type ${f.type}`);
  }
  if ((f.type === FrameType.PING || f.type === FrameType.PONG) && f.opaque.byteLength !== 8) {
    throw new RangeError("PING/PONG opaque data must be 8 bytes");
  }
  if (f.type === FrameType.WINDOW_UPDATE && (!Number.isInteger(f.increment) || f.increment < 1 || f.increment > 0xffff_ffff)) {
    throw new RangeError(`bad window increment ${f.increment}`);
  }
  if ((f.type === FrameType.RST || f.type === FrameType.GOAWAY) && (!Number.isInteger(f.code) || f.code < 0 || f.code > 255)) {
    throw new RangeError(`bad code ${f.code}`);
  }
}

/** Encodes a frame into `buf` at `off`; returns the offset after it. Throws RangeError on an invalid struct or lack of room. */
export function encodeFrameInto(buf: Uint8Array, off: number, f: Frame): number {
  checkEncodable(f);
  const reason = f.type === FrameType.GOAWAY ? goAwayReasonBytes(f.reason) : undefined;
  const len = reason ? 1 + reason.byteLength : framePayloadLength(f);
  if (off + FRAME_HEADER_SIZE + len > buf.byteLength) throw new RangeError("buffer too small for frame");
  writeFrameHeader(buf, off, f.type, f.streamId, len);
  const p = off + FRAME_HEADER_SIZE;
  const bytes = bytePayload(f);
  if (bytes) buf.set(bytes, p);
  else if (f.type === FrameType.WINDOW_UPDATE) writeU32(buf, p, f.increment);
  else if (f.type === FrameType.RST || f.type === FrameType.GOAWAY) {
    buf[p] = f.code;
    if (reason) buf.set(reason, p + 1);
  }
  return p + len;
}

/** The payload of the frame types that carry their bytes as is; undefined for the others. */
function bytePayload(f: Frame): Uint8Array | undefined {
  switch (f.type) {
    case FrameType.OPEN:
      return f.meta;
    case FrameType.DATA:
      return f.data;
    case FrameType.PING:
    case FrameType.PONG:
      return f.opaque;
    case FrameType.MESSAGE:
      return f.body;
  }
  return undefined;
}

/** Encodes one frame into a new buffer. */
export function encodeFrame(f: Frame): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + framePayloadLength(f));
  encodeFrameInto(out, 0, f);
  return out;
}

/** Encodes several frames back to back into one buffer (what a transport send carries). */
export function encodeFrames(frames: readonly Frame[]): Uint8Array {
  let total = 0;
  for (const f of frames) total += FRAME_HEADER_SIZE + framePayloadLength(f);
  const out = new Uint8Array(total);
  let off = 0;
  for (const f of frames) off = encodeFrameInto(out, off, f);
  return out;
}

/**
 * Receives each complete frame. `payload` is a view into the pushed chunk when the frame
 * arrived whole (no copy), or a buffer owned by the receiver when it arrived in pieces
 * (`owned` true: nobody else holds it, the receiver may free it); either way it is never
 * reused by the decoder.
 */
export type FrameHandler = (type: number, streamId: number, payload: Uint8Array, owned?: boolean) => void;

export interface FrameDecoderOptions {
  /** Largest payload accepted for any frame type (default 256 KiB). */
  maxPayload?: number;
  /** Largest MESSAGE payload (default: maxPayload). Control messages may need more, or less, than data frames. */
  maxMessagePayload?: number;
}

/**
 * Incremental decoder: push chunks split anywhere (a frame across chunks, several frames
 * in one chunk). Buffering is bounded by one header plus one payload of at most the limit.
 * A bad frame throws a ProtocolError from push(); the decoder then stays failed and
 * every later push() throws the same error.
 */
export class FrameDecoder {
  readonly maxPayload: number;
  readonly maxMessagePayload: number;
  private readonly onFrame: FrameHandler;
  private readonly hdr = new Uint8Array(FRAME_HEADER_SIZE);
  private hdrLen = 0;
  private pay: Uint8Array | null = null;
  private payLen = 0;
  private type = 0;
  private sid = 0;
  private failed: unknown = null;
  private stopped = false;

  constructor(onFrame: FrameHandler, opts: FrameDecoderOptions = {}) {
    this.onFrame = onFrame;
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.maxMessagePayload = opts.maxMessagePayload ?? this.maxPayload;
    if (!(this.maxPayload >= 8) || !(this.maxMessagePayload >= 0) || this.maxMessagePayload > 0xffff_ffff) throw new RangeError("bad decoder payload limit");
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.pay ? this.payLen + FRAME_HEADER_SIZE : this.hdrLen;
  }

  get error(): unknown {
    return this.failed;
  }

  /** Stops delivering frames, also from the chunk being processed (the session closed). */
  stop(): void {
    this.stopped = true;
    this.pay = null;
    this.hdrLen = 0;
  }

  push(chunk: Uint8Array): void {
    if (this.failed !== null) throw this.failed;
    if (this.stopped) return;
    try {
      this.run(chunk);
    } catch (err) {
      this.failed = err;
      this.pay = null;
      this.hdrLen = 0;
      throw err;
    }
  }

  /** Call when the byte stream ends: throws TRUNCATED if a frame was cut short. */
  finish(): void {
    if (this.failed !== null) throw this.failed;
    if (this.stopped) return;
    const held = this.buffered;
    if (held > 0) {
      const err = new ProtocolError("TRUNCATED", `stream ended inside a frame (${held} bytes buffered)`);
      this.failed = err;
      this.pay = null;
      this.hdrLen = 0;
      throw err;
    }
  }

  private header(b: Uint8Array, i: number): number {
    const type = b[i]!;
    const sid = readU32(b, i + 1);
    const len = readU32(b, i + 5);
    const err = checkFrameHeader(type, sid, len, type === FrameType.MESSAGE ? this.maxMessagePayload : this.maxPayload);
    if (err) throw err;
    this.type = type;
    this.sid = sid;
    return len;
  }

  private emit(payload: Uint8Array, owned = false): void {
    const type = this.type;
    if (type === FrameType.WINDOW_UPDATE && readU32(payload, 0) === 0) {
      throw new ProtocolError("BAD_PAYLOAD", `WINDOW_UPDATE with a zero increment on stream ${this.sid}`);
    }
    this.onFrame(type, this.sid, payload, owned);
  }

  private run(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    let i = 0;
    if (this.pay !== null) {
      // Finish a payload that started in an earlier chunk.
      const pay = this.pay;
      const take = Math.min(pay.byteLength - this.payLen, n);
      pay.set(take === n ? chunk : chunk.subarray(0, take), this.payLen);
      this.payLen += take;
      if (this.payLen < pay.byteLength) return;
      this.pay = null;
      i = take;
      this.emit(pay, true);
      if (this.stopped) return;
    } else if (this.hdrLen > 0) {
      // Finish a header that started in an earlier chunk.
      const take = Math.min(FRAME_HEADER_SIZE - this.hdrLen, n);
      this.hdr.set(chunk.subarray(0, take), this.hdrLen);
      this.hdrLen += take;
      if (this.hdrLen < FRAME_HEADER_SIZE) return;
      this.hdrLen = 0;
      i = this.payloadAt(chunk, take, this.header(this.hdr, 0));
      if (i < 0) return;
    }
    while (n - i >= FRAME_HEADER_SIZE) {
      const len = this.header(chunk, i);
      i = this.payloadAt(chunk, i + FRAME_HEADER_SIZE, len);
      if (i < 0) return;
    }
    if (i < n) {
      this.hdr.set(chunk.subarray(i), 0);
      this.hdrLen = n - i;
    }
  }

  /**
   * The payload of `len` bytes at `i`: emitted when the chunk holds all of it (returns the
   * offset after it), else kept until later chunks complete it (returns -1, as after a stop).
   */
  private payloadAt(chunk: Uint8Array, i: number, len: number): number {
    if (chunk.byteLength - i >= len) {
      this.emit(chunk.subarray(i, i + len));
      return this.stopped ? -1 : i + len;
    }
    // The length was checked against the limit, so this allocation is bounded.
    const pay = new Uint8Array(len);
    pay.set(chunk.subarray(i), 0);
    this.pay = pay;
    this.payLen = chunk.byteLength - i;
    return -1;
  }
}

/** Decodes a complete byte string into typed frames (tests, debugging). Throws ProtocolError. */
export function decodeFrames(bytes: Uint8Array, opts?: FrameDecoderOptions): Frame[] {
  const out: Frame[] = [];
  const d = new FrameDecoder((type, sid, payload) => out.push(toFrame(type, sid, payload)), opts);
  d.push(bytes);
  d.finish();
  return out;
}
