// A multiplexed session over one Transport: many streams, per-stream credit flow
// control, a fair output queue, keepalive, GOAWAY. The same engine runs on both ends;
// `side` only decides stream id parity (client odd, server even).
//
// Output path: every frame is encoded into one reusable output buffer and handed to the
// transport in one send() per batch (a microtask, or sooner when the batch is large), so
// header and payload travel together and many small frames share a send. When the
// transport reports backpressure, data stays in each stream's queue and a round-robin
// list of streams with sendable data is served one frame per turn on drain: a bulk
// stream cannot starve small ones. Control frames (WINDOW_UPDATE, FIN, RST, PONG, OPEN)
// are still encoded while backpressured and go out first on drain; that backlog is
// bounded, a peer that lets it grow past the bound is disconnected.
import { releaseBuffer } from "../net/release-buffer.ts";
import { FrameDecoder, writeFrameHeader, writeU32 } from "../protocol/codec.ts";
import {
  DEFAULT_MAX_PAYLOAD,
  FRAME_HEADER_SIZE,
  FrameType,
  GoAwayCode,
  goAwayCodeName,
  MAX_STREAM_ID,
  PROTOCOL_INITIAL_WINDOW,
  ProtocolError,
  readU32,
  RstCode,
  rstCodeName,
} from "../protocol/frames.ts";
import type { Clock } from "../clock.ts";
import { MuxError } from "./errors.ts";
import { MuxStream } from "./stream.ts";
import { CloseCode, type Transport } from "./transport.ts";

/** The session's time source (lib/clock.ts); its keepalive timers run on it. */
export type MuxClock = Clock;

/** Real time; timers are unref'd (the transport keeps the process alive, not the keepalive). */
export const systemClock: MuxClock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface KeepaliveOptions {
  /** PING period (default 10 s). */
  intervalMs: number;
  /** The peer is dead when nothing at all was received for this long (default 30 s). */
  timeoutMs: number;
}

export interface MuxSessionOptions {
  transport: Transport;
  side: "client" | "server";
  /** A stream opened by the peer. Without a handler, peer streams are refused (RST REFUSED). */
  onStream?: (stream: MuxStream, meta: Uint8Array) => void;
  /** A MESSAGE from the peer (stream 0 control message). */
  onMessage?: (bytes: Uint8Array) => void;
  /** Once, when the session ends, with why. */
  onClose?: (reason: MuxError) => void;
  /** A handler threw (it is contained: the stream is reset). Default: console.error. */
  onCallbackError?: (err: unknown, where: string) => void;
  /** Receive window per stream, at least 256 KiB (the protocol's initial window). Default 256 KiB. */
  initialWindow?: number;
  /**
   * Largest DATA payload this side sends (at most 256 KiB). Default: 64 KiB while other
   * streams wait for the transport (so none waits long behind a bulk one), 256 KiB for a
   * stream that has the session to itself (a quarter of the frames, deliveries and socket
   * writes on both sides: ~15 % less CPU per GiB measured through 443).
   */
  maxFrameSize?: number;
  /** Largest MESSAGE accepted or sent (default 1 MiB). */
  maxMessageSize?: number;
  /** Concurrent streams; peer streams beyond it are refused, openStream throws (default 8192). */
  maxStreams?: number;
  /** Bytes held per stream before write() returns false (default 256 KiB). */
  writeHighWaterMark?: number;
  /**
   * Bytes held over all streams of the session before every write() returns false
   * (default 8 MiB): many streams each under their own mark cannot add up without bound.
   * A writer that honours false adds at most one write beyond it.
   */
  maxSessionBuffered?: number;
  /** PING period and dead-peer timeout; false disables (tests). */
  keepalive?: Partial<KeepaliveOptions> | false;
  clock?: MuxClock;
  /** A stream used up the peer's credit with data still queued (a flow-control stall, for metrics). */
  onWindowStall?: () => void;
}

const OUT_INITIAL = 512 * 1024;

// Output buffers are lent from a process-wide pool instead of owned by each session: a
// session only holds one between encoding a batch and handing it to the transport (which
// copies), so a server with thousands of idle tunnels keeps a handful of buffers, not one
// 512 KiB buffer per connection.
const NO_BUFFER = new Uint8Array(0);
const MAX_POOLED_BUFFERS = 16;
const bufferPool: Uint8Array[] = [];
function takeOutBuffer(): Uint8Array {
  return bufferPool.pop() ?? new Uint8Array(OUT_INITIAL);
}
function returnOutBuffer(buf: Uint8Array): void {
  if (buf.byteLength === OUT_INITIAL && bufferPool.length < MAX_POOLED_BUFFERS) bufferPool.push(buf);
}
/** A batch is handed to the transport once it holds this much (or at the end of the tick). */
const FLUSH_BYTES = 256 * 1024;
/** Encoded control frames held while the transport is backpressured, before the peer counts as abusive. */
const MAX_CONTROL_BACKLOG = 16 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

export class MuxSession {
  readonly side: "client" | "server";
  /** Smoothed round-trip time of keepalive PINGs in ms (NaN until the first PONG). */
  rttMs = Number.NaN;
  /** Bytes handed to / received from the transport. */
  bytesOut = 0;
  bytesIn = 0;

  /** @internal */ readonly _writeHighWaterMark: number;
  /** @internal */ readonly _maxBufferedWrite: number;
  /** @internal */ readonly _maxSessionBuffered: number;
  /** @internal Outgoing bytes queued in all streams, not yet framed. */ _bufferedOut = 0;
  /** Streams whose write() returned false because of the session cap. */
  private sessionWaiters: MuxStream[] = [];

  private readonly transport: Transport;
  private readonly opts: MuxSessionOptions;
  private readonly clock: MuxClock;
  private readonly streams = new Map<number, MuxStream>();
  private readonly decoder: FrameDecoder;
  private readonly window: number;
  private readonly windowThreshold: number;
  private readonly maxFrame: number;
  /** Frame size for a stream alone in the round robin. */
  private readonly soloFrame: number;
  private readonly maxMessage: number;
  private readonly maxStreams: number;
  private nextId: number;
  private lastPeerId = 0;
  private out: Uint8Array = NO_BUFFER;
  /** Bytes left free at the start of each batch for the transport's own header (see Transport.sendAfterHeadroom). */
  private readonly headroom: number;
  private outLen: number;
  private writable = true;
  private flushScheduled = false;
  private flushing = false;
  /** Set while a transport chunk is decoded when a frame left a view of it with the application. */
  private viewKept = false;
  private overloaded = false;
  private readyHead: MuxStream | null = null;
  private readyTail: MuxStream | null = null;
  private drainList: MuxStream[] = [];
  private closed_ = false;
  private goAwayReceived: { code: number; reason: string } | null = null;
  private goAwaySent = false;
  private lastRecv: number;
  private readonly keepalive: KeepaliveOptions | null;
  private pingTimer: unknown = null;
  private deadTimer: unknown = null;
  private pingSeq = 0;
  private pingSentAt = 0;

  constructor(opts: MuxSessionOptions) {
    this.opts = opts;
    this.side = opts.side;
    this.transport = opts.transport;
    this.headroom = this.transport.sendAfterHeadroom ? (this.transport.headroom ?? 0) : 0;
    this.outLen = this.headroom;
    this.clock = opts.clock ?? systemClock;
    this.window = opts.initialWindow ?? PROTOCOL_INITIAL_WINDOW;
    if (!Number.isInteger(this.window) || this.window < PROTOCOL_INITIAL_WINDOW || this.window > 0x7fff_ffff) {
      throw new RangeError(`initialWindow must be an integer between ${PROTOCOL_INITIAL_WINDOW} and 2^31-1`);
    }
    this.windowThreshold = this.window >>> 1;
    this.maxFrame = opts.maxFrameSize ?? 64 * 1024;
    this.soloFrame = opts.maxFrameSize ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(this.maxFrame) || this.maxFrame < 1 || this.maxFrame > DEFAULT_MAX_PAYLOAD) {
      throw new RangeError(`maxFrameSize must be between 1 and ${DEFAULT_MAX_PAYLOAD}`);
    }
    this.maxMessage = opts.maxMessageSize ?? 1024 * 1024;
    this.maxStreams = opts.maxStreams ?? 8192;
    this._writeHighWaterMark = opts.writeHighWaterMark ?? 256 * 1024;
    this._maxBufferedWrite = Math.max(this._writeHighWaterMark * 8, 4 * 1024 * 1024);
    this._maxSessionBuffered = opts.maxSessionBuffered ?? 8 * 1024 * 1024;
    this.nextId = this.side === "client" ? 1 : 2;
    this.decoder = new FrameDecoder(this.onFrame, { maxPayload: DEFAULT_MAX_PAYLOAD, maxMessagePayload: this.maxMessage });
    this.lastRecv = this.clock.now();
    if (opts.keepalive === false) {
      this.keepalive = null;
    } else {
      this.keepalive = { intervalMs: opts.keepalive?.intervalMs ?? 10_000, timeoutMs: opts.keepalive?.timeoutMs ?? 30_000 };
      this.pingTimer = this.clock.setTimeout(this.onPingTimer, this.keepalive.intervalMs);
      this.deadTimer = this.clock.setTimeout(this.onDeadTimer, this.keepalive.timeoutMs);
    }
    this.transport.bind({ data: this.onTransportData, drain: this.onTransportDrain, close: this.onTransportClose });
  }

  get closed(): boolean {
    return this.closed_;
  }
  get streamCount(): number {
    return this.streams.size;
  }
  /** The peer announced it is closing: open no new streams here. */
  get goingAway(): boolean {
    return this.goAwayReceived !== null || this.goAwaySent;
  }
  /** True when the transport is not backpressured. */
  get transportWritable(): boolean {
    return this.writable;
  }

  /** Looks up an open stream (tests, diagnostics). */
  stream(id: number): MuxStream | undefined {
    return this.streams.get(id);
  }

  /**
   * Opens a stream; usable at once (no round trip). `meta` reaches the peer's onStream.
   * Throws MuxError NOT_OPEN / TOO_MANY_STREAMS / TOO_LARGE.
   */
  openStream(meta: Uint8Array = EMPTY): MuxStream {
    if (this.closed_ || this.goingAway) throw new MuxError("NOT_OPEN", this.closed_ ? "session is closed" : "session is going away");
    if (this.streams.size >= this.maxStreams) throw new MuxError("TOO_MANY_STREAMS", `session has ${this.streams.size} streams (max ${this.maxStreams})`);
    if (meta.byteLength > DEFAULT_MAX_PAYLOAD) throw new MuxError("TOO_LARGE", `stream metadata of ${meta.byteLength} bytes exceeds ${DEFAULT_MAX_PAYLOAD}`);
    const id = this.nextId;
    if (id > MAX_STREAM_ID) throw new MuxError("NOT_OPEN", "stream ids exhausted: open a new session");
    this.nextId += 2;
    const s = new MuxStream(this, id, this.window);
    this.streams.set(id, s);
    const off = this.reserve(FRAME_HEADER_SIZE + meta.byteLength);
    writeFrameHeader(this.out, off, FrameType.OPEN, id, meta.byteLength);
    this.out.set(meta, off + FRAME_HEADER_SIZE);
    this.announceWindow(s);
    this.scheduleFlush();
    return s;
  }

  /** Sends a control message (MESSAGE frame). Returns false when the transport is backpressured (the message is still sent). */
  sendMessage(bytes: Uint8Array): boolean {
    if (this.closed_) throw new MuxError("NOT_OPEN", "session is closed");
    if (bytes.byteLength > this.maxMessage) throw new MuxError("TOO_LARGE", `message of ${bytes.byteLength} bytes exceeds ${this.maxMessage}`);
    const off = this.reserve(FRAME_HEADER_SIZE + bytes.byteLength);
    writeFrameHeader(this.out, off, FrameType.MESSAGE, 0, bytes.byteLength);
    this.out.set(bytes, off + FRAME_HEADER_SIZE);
    this.scheduleFlush();
    return this.writable;
  }

  /** GOAWAY, then closes the transport. Every stream ends with SESSION_CLOSED; unsent data is dropped. */
  close(reason = "session closed"): void {
    this.terminate(new MuxError("CLOSED", reason), GoAwayCode.NORMAL, CloseCode.NORMAL);
  }

  // ---- input ----------------------------------------------------------------------------------

  /** Returns true when no frame of `chunk` left a view of it behind (TransportHandlers.data). */
  private readonly onTransportData = (chunk: Uint8Array): boolean => {
    if (this.closed_) return false;
    this.bytesIn += chunk.byteLength;
    if (this.keepalive !== null) this.lastRecv = this.clock.now();
    // Saved and restored: a chunk delivered from inside another one's frames keeps its own answer.
    const outer = this.viewKept;
    this.viewKept = false;
    try {
      this.decoder.push(chunk);
      return !this.viewKept;
    } catch (err) {
      if (this.closed_) return false;
      if (err instanceof ProtocolError) {
        this.terminate(new MuxError("PROTOCOL_ERROR", `peer sent a bad frame: ${err.message}`, { remote: true, cause: err }), GoAwayCode.PROTOCOL_ERROR, CloseCode.PROTOCOL_ERROR);
      } else {
        this.terminate(new MuxError("PROTOCOL_ERROR", `internal error while reading frames: ${String(err)}`, { cause: err }), GoAwayCode.INTERNAL, CloseCode.INTERNAL);
      }
      return false;
    } finally {
      this.viewKept = outer;
    }
  };

  private readonly onFrame = (type: number, sid: number, payload: Uint8Array, owned?: boolean): void => {
    if (type === FrameType.DATA) {
      const s = this.streams.get(sid);
      if (s === undefined) return this.unknownStream(type, sid);
      const kept = s._receive(payload);
      // A frame that arrived in pieces was assembled in a buffer of the decoder's own.
      if (owned === true) {
        if (!kept) releaseBuffer(payload);
      } else if (kept) this.viewKept = true;
      return;
    }
    switch (type) {
      case FrameType.WINDOW_UPDATE: {
        const s = this.streams.get(sid);
        if (s === undefined) return this.unknownStream(type, sid);
        s._sendCredit += readU32(payload, 0);
        if (s._sendCredit > 0xffff_ffff) {
          s._fail(new MuxError("FLOW_CONTROL", `stream ${sid}: peer granted credit beyond 2^32-1`, { remote: true }), RstCode.FLOW_CONTROL);
          return;
        }
        if (s._outBytes > 0 && !s._inReady) this._streamHasData(s);
        return;
      }
      case FrameType.OPEN:
        this.viewKept = true; // the metadata goes to the application
        return this.onOpen(sid, payload);
      case FrameType.FIN: {
        const s = this.streams.get(sid);
        if (s !== undefined) s._receiveFin();
        else this.unknownStream(type, sid);
        return;
      }
      case FrameType.RST: {
        const s = this.streams.get(sid);
        if (s !== undefined) {
          const code = payload[0]!;
          s._finalize(new MuxError("RESET_BY_PEER", `stream ${sid} reset by peer (${rstCodeName(code)})`, { wireCode: code, remote: true }));
        }
        return;
      }
      case FrameType.PING: {
        const off = this.reserve(FRAME_HEADER_SIZE + 8);
        writeFrameHeader(this.out, off, FrameType.PONG, 0, 8);
        this.out.set(payload, off + FRAME_HEADER_SIZE);
        this.scheduleFlush();
        return;
      }
      case FrameType.PONG:
        if (readU32(payload, 0) === this.pingSeq) {
          const rtt = this.clock.now() - this.pingSentAt;
          this.rttMs = Number.isNaN(this.rttMs) ? rtt : this.rttMs * 0.75 + rtt * 0.25;
        }
        return;
      case FrameType.MESSAGE: {
        const cb = this.opts.onMessage;
        if (cb === undefined) return;
        this.viewKept = true;
        try {
          cb(payload);
        } catch (err) {
          this._callbackError(err, "onMessage");
        }
        return;
      }
      case FrameType.GOAWAY:
        this.goAwayReceived = { code: payload[0]!, reason: new TextDecoder().decode(payload.subarray(1)) };
        return;
    }
  };

  private onOpen(sid: number, meta: Uint8Array): void {
    const peerParity = this.side === "client" ? 0 : 1;
    if ((sid & 1) !== peerParity) {
      // The peer used an id from our half of the space.
      this.sendRstFor(sid, RstCode.PROTOCOL_ERROR);
      return;
    }
    const existing = this.streams.get(sid);
    if (existing !== undefined) {
      existing._fail(new MuxError("PROTOCOL_ERROR", `stream ${sid}: OPEN for an open stream`, { remote: true }), RstCode.PROTOCOL_ERROR);
      return;
    }
    if (sid <= this.lastPeerId) {
      this.sendRstFor(sid, RstCode.PROTOCOL_ERROR);
      return;
    }
    this.lastPeerId = sid;
    const onStream = this.opts.onStream;
    if (onStream === undefined || this.goAwaySent || this.streams.size >= this.maxStreams) {
      this.sendRstFor(sid, RstCode.REFUSED);
      return;
    }
    const s = new MuxStream(this, sid, this.window);
    this.streams.set(sid, s);
    this.announceWindow(s);
    try {
      onStream(s, meta);
    } catch (err) {
      this._callbackError(err, "onStream");
      s._fail(new MuxError("CALLBACK_ERROR", `stream ${sid}: onStream handler threw`, { cause: err }), RstCode.INTERNAL);
    }
  }

  /** Frames for a stream not in the map: late frames of a closed stream are dropped, frames for ids never opened are answered with RST. */
  private unknownStream(type: number, sid: number): void {
    const ours = (sid & 1) === (this.side === "client" ? 1 : 0);
    const seen = ours ? sid < this.nextId : sid <= this.lastPeerId;
    if (seen || type === FrameType.RST) return;
    // Answer only while writable: a peer flooding frames for bogus ids gets no amplification.
    if (this.writable) this.sendRstFor(sid, RstCode.PROTOCOL_ERROR);
  }

  // ---- output -----------------------------------------------------------------------------------

  /** Returns the offset of `n` free bytes in the output buffer (flushing or growing it). */
  private reserve(n: number): number {
    if (this.outLen + n > this.out.byteLength) {
      if (this.writable && this.outLen > this.headroom && !this.closed_) this.sendOut();
      if (this.out === NO_BUFFER) this.out = takeOutBuffer();
      if (this.outLen + n > this.out.byteLength) {
        const grown = new Uint8Array(Math.max(this.out.byteLength * 2, this.outLen + n));
        grown.set(this.out.subarray(0, this.outLen));
        this.out = grown;
        if (this.outLen + n > MAX_CONTROL_BACKLOG && !this.writable) {
          this.overloaded = true;
          this.scheduleFlush();
        }
      }
    }
    const off = this.outLen;
    this.outLen += n;
    return off;
  }

  private sendOut(): void {
    const len = this.outLen;
    const start = this.headroom;
    this.outLen = start;
    this.bytesOut += len - start;
    let ok: boolean;
    try {
      ok = start > 0 ? this.transport.sendAfterHeadroom!(this.out.subarray(start, len)) : this.transport.send(this.out.subarray(0, len));
    } catch {
      ok = false;
    }
    if (!ok) this.writable = false;
    // The transport copied the bytes: the buffer goes back to the pool (an oversized one,
    // grown for a control backlog, is left to the garbage collector).
    returnOutBuffer(this.out);
    this.out = NO_BUFFER;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.closed_) return;
    this.flushScheduled = true;
    // After every I/O callback of this event-loop turn, not after this one: requests read
    // from many visitor sockets in one turn go out in one batch (one TLS record, one
    // write) instead of one each. Bulk data does not wait: a batch of FLUSH_BYTES is sent
    // at once.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed_ || this.flushing) return;
    if (this.overloaded) {
      this.terminate(new MuxError("OVERLOADED", "peer stopped reading while control frames piled up", { remote: true }), GoAwayCode.OVERLOADED, CloseCode.INTERNAL);
      return;
    }
    this.flushing = true;
    try {
      if (this.writable) {
        let s: MuxStream | null;
        while ((s = this.readyHead) !== null) {
          this.readyHead = s._nextReady;
          if (this.readyHead === null) this.readyTail = null;
          s._nextReady = null;
          s._inReady = false;
          if (s._closed || s._outBytes === 0 || s._sendCredit === 0) continue;
          this.emitData(s);
          if (s._outBytes > 0 && s._sendCredit > 0 && !s._closed) this.pushReady(s);
          if (this.outLen >= FLUSH_BYTES) {
            this.sendOut();
            if (!this.writable) break;
          }
        }
        if (this.outLen > this.headroom && this.writable) this.sendOut();
      }
    } finally {
      this.flushing = false;
    }
    this.notifyDrains();
  };

  /** Frames one DATA frame from the stream (and its FIN when that empties it); see maxFrameSize. */
  private emitData(s: MuxStream): void {
    let n = s._outBytes;
    if (n > s._sendCredit) n = s._sendCredit;
    const limit = this.readyHead === null ? this.soloFrame : this.maxFrame;
    if (n > limit) n = limit;
    const off = this.reserve(FRAME_HEADER_SIZE + n);
    const out = this.out;
    writeFrameHeader(out, off, FrameType.DATA, s.id, n);
    s._takeOut(out, off + FRAME_HEADER_SIZE, n);
    s._sendCredit -= n;
    s.bytesSent += n;
    if (s._sendCredit === 0 && s._outBytes > 0) this.opts.onWindowStall?.();
    if (s._outBytes === 0 && s._localFin && !s._finSent) {
      this._sendFin(s);
      s._maybeClose();
    }
    if (this.sessionWaiters.length > 0 && this._bufferedOut <= this._maxSessionBuffered >>> 1) this.releaseSessionWaiters();
    if (s._needDrain && s._outBytes <= this._writeHighWaterMark >>> 1) {
      if (this._bufferedOut < this._maxSessionBuffered) {
        s._needDrain = false;
        this.drainList.push(s);
        this.scheduleFlush();
      } else {
        this._waitForSessionDrain(s);
      }
    }
  }

  private pushReady(s: MuxStream): void {
    s._inReady = true;
    s._nextReady = null;
    if (this.readyTail === null) this.readyHead = s;
    else this.readyTail._nextReady = s;
    this.readyTail = s;
  }

  private notifyDrains(): void {
    if (this.drainList.length === 0) return;
    const list = this.drainList;
    this.drainList = [];
    for (const s of list) {
      if (s._closed || s._needDrain) continue;
      const cb = s.ondrain;
      if (cb === null) continue;
      try {
        cb();
      } catch (err) {
        this._callbackError(err, "ondrain");
        s._fail(new MuxError("CALLBACK_ERROR", `stream ${s.id}: ondrain handler threw`, { cause: err }), RstCode.INTERNAL);
      }
    }
  }

  private readonly onTransportDrain = (): void => {
    if (this.closed_) return;
    this.writable = true;
    // Control frames held during backpressure go first, then the round robin.
    this.flush();
  };

  private announceWindow(s: MuxStream): void {
    if (this.window > PROTOCOL_INITIAL_WINDOW) {
      const inc = this.window - PROTOCOL_INITIAL_WINDOW;
      this.writeWindowUpdate(s.id, inc);
      s._recvCredit += inc;
    }
  }

  private writeWindowUpdate(id: number, inc: number): void {
    const off = this.reserve(FRAME_HEADER_SIZE + 4);
    writeFrameHeader(this.out, off, FrameType.WINDOW_UPDATE, id, 4);
    writeU32(this.out, off + FRAME_HEADER_SIZE, inc);
    this.scheduleFlush();
  }

  private sendRstFor(id: number, code: number): void {
    const off = this.reserve(FRAME_HEADER_SIZE + 1);
    writeFrameHeader(this.out, off, FrameType.RST, id, 1);
    this.out[off + FRAME_HEADER_SIZE] = code;
    this.scheduleFlush();
  }

  // ---- called by MuxStream --------------------------------------------------------------------

  /** @internal The stream has queued data and credit: send now if nobody waits, else join the round robin. */
  _streamHasData(s: MuxStream): void {
    if (this.closed_) return;
    if (this.writable && this.readyHead === null && !this.flushing) {
      // Fast path: nothing queued ahead, frame it right away (the send happens at the end of the tick).
      while (s._outBytes > 0 && s._sendCredit > 0 && !s._closed) {
        this.emitData(s);
        if (this.outLen >= FLUSH_BYTES) {
          this.sendOut();
          if (!this.writable) break;
        }
      }
      if (s._outBytes > 0 && s._sendCredit > 0 && !s._closed) this.pushReady(s);
      this.scheduleFlush();
      return;
    }
    this.pushReady(s);
    this.scheduleFlush();
  }

  /** @internal The stream waits until the session's buffered bytes fell to half the cap. */
  _waitForSessionDrain(s: MuxStream): void {
    if (s._waitingSession) return;
    s._waitingSession = true;
    this.sessionWaiters.push(s);
  }

  /** Below half the session cap again: the waiters whose own queue is small get their drain. */
  private releaseSessionWaiters(): void {
    const waiters = this.sessionWaiters;
    this.sessionWaiters = [];
    for (const w of waiters) {
      w._waitingSession = false;
      // A waiter with a long queue of its own gets its drain from emitData as that queue shrinks.
      if (w._closed || !w._needDrain || w._outBytes > this._writeHighWaterMark >>> 1) continue;
      w._needDrain = false;
      this.drainList.push(w);
    }
    this.scheduleFlush();
  }

  /** @internal */
  _sendFin(s: MuxStream): void {
    s._finSent = true;
    if (this.closed_) return;
    const off = this.reserve(FRAME_HEADER_SIZE);
    writeFrameHeader(this.out, off, FrameType.FIN, s.id, 0);
    this.scheduleFlush();
  }

  /** @internal */
  _sendRst(id: number, code: number): void {
    if (this.closed_) return;
    this.sendRstFor(id, code);
  }

  /** @internal Returns consumed credit to the peer, batched: once half the window was consumed. */
  _maybeWindowUpdate(s: MuxStream): void {
    if (s._unacked < this.windowThreshold || s._remoteFin || s.paused || this.closed_) return;
    const inc = s._unacked;
    s._unacked = 0;
    s._recvCredit += inc;
    this.writeWindowUpdate(s.id, inc);
  }

  /** @internal */
  _streamClosed(s: MuxStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    // Its queued bytes were dropped: that may bring the session back under its cap.
    if (this.sessionWaiters.length > 0 && this._bufferedOut <= this._maxSessionBuffered >>> 1 && !this.closed_) this.releaseSessionWaiters();
  }

  /** @internal */
  _callbackError(err: unknown, where: string): void {
    const cb = this.opts.onCallbackError;
    if (cb !== undefined) {
      try {
        cb(err, where);
      } catch {
        // A failing error reporter must not take the session down.
      }
      return;
    }
    console.error(`mux: ${where} handler threw:`, err);
  }

  // ---- keepalive and teardown -------------------------------------------------------------------

  private readonly onPingTimer = (): void => {
    if (this.closed_ || this.keepalive === null) return;
    this.pingSeq = (this.pingSeq + 1) >>> 0;
    this.pingSentAt = this.clock.now();
    const off = this.reserve(FRAME_HEADER_SIZE + 8);
    writeFrameHeader(this.out, off, FrameType.PING, 0, 8);
    writeU32(this.out, off + FRAME_HEADER_SIZE, this.pingSeq);
    writeU32(this.out, off + FRAME_HEADER_SIZE + 4, 0);
    this.scheduleFlush();
    this.pingTimer = this.clock.setTimeout(this.onPingTimer, this.keepalive.intervalMs);
  };

  private readonly onDeadTimer = (): void => {
    if (this.closed_ || this.keepalive === null) return;
    const idle = this.clock.now() - this.lastRecv;
    if (idle >= this.keepalive.timeoutMs) {
      this.terminate(
        new MuxError("KEEPALIVE_TIMEOUT", `nothing received from the peer for ${Math.round(idle)} ms`, { remote: true }),
        undefined,
        CloseCode.GOING_AWAY,
      );
      return;
    }
    this.deadTimer = this.clock.setTimeout(this.onDeadTimer, this.keepalive.timeoutMs - idle);
  };

  private readonly onTransportClose = (code: number, reason: string): void => {
    if (this.closed_) return;
    const g = this.goAwayReceived;
    if (g !== null) {
      const err =
        g.code === GoAwayCode.NORMAL
          ? new MuxError("GOAWAY", `peer closed the session${g.reason ? `: ${g.reason}` : ""}`, { wireCode: g.code, remote: true })
          : new MuxError(g.code === GoAwayCode.PROTOCOL_ERROR ? "PROTOCOL_ERROR" : "GOAWAY", `peer closed the session (${goAwayCodeName(g.code)}): ${g.reason}`, {
              wireCode: g.code,
              remote: true,
            });
      this.terminate(err, undefined, undefined);
      return;
    }
    this.terminate(new MuxError("TRANSPORT_CLOSED", `connection closed (${code}${reason ? ` ${reason}` : ""})`, { remote: true }), undefined, undefined);
  };

  /** Ends the session once: optional GOAWAY, transport close, every stream closed, onClose. */
  private terminate(reason: MuxError, goAway: number | undefined, closeCode: number | undefined): void {
    if (this.closed_) return;
    if (goAway !== undefined && !this.transport.closed) {
      this.goAwaySent = true;
      const text = new TextEncoder().encode(reason.message.slice(0, 200));
      const off = this.reserve(FRAME_HEADER_SIZE + 1 + text.byteLength);
      writeFrameHeader(this.out, off, FrameType.GOAWAY, 0, 1 + text.byteLength);
      this.out[off + FRAME_HEADER_SIZE] = goAway;
      this.out.set(text, off + FRAME_HEADER_SIZE + 1);
    }
    // Whatever is encoded (GOAWAY, FINs, RSTs) is handed over even when backpressured: the transport keeps it.
    if (this.outLen > this.headroom && !this.transport.closed) this.sendOut();
    this.outLen = this.headroom;
    this.closed_ = true;
    this.decoder.stop();
    if (this.pingTimer !== null) this.clock.clearTimeout(this.pingTimer);
    if (this.deadTimer !== null) this.clock.clearTimeout(this.deadTimer);
    this.pingTimer = this.deadTimer = null;
    this.readyHead = this.readyTail = null;
    this.drainList = [];
    if (closeCode !== undefined) {
      try {
        this.transport.close(closeCode, reason.message);
      } catch {
        // Closing an already dead transport.
      }
    }
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s._finalize(new MuxError("SESSION_CLOSED", `session closed: ${reason.message}`, { cause: reason, remote: reason.remote }));
    const cb = this.opts.onClose;
    if (cb !== undefined) {
      try {
        cb(reason);
      } catch (err) {
        this._callbackError(err, "onClose");
      }
    }
  }
}

export function createMuxSession(opts: MuxSessionOptions): MuxSession {
  return new MuxSession(opts);
}
