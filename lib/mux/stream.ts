// One multiplexed stream: a bidirectional byte pipe with half-close, reset and
// per-stream credit flow control. The session owns the wire; the stream owns its queues.
import { PROTOCOL_INITIAL_WINDOW, RstCode, rstCodeName } from "../protocol/frames.ts";
import { MuxError } from "./errors.ts";
import type { MuxSession } from "./session.ts";
import { copyBytes, releaseBuffer } from "../net/release-buffer.ts";

/** Queued chunks whose buffers were handed over with write(bytes, true): freed once framed. */
const handedOver = new WeakSet<Uint8Array>();

/** Queued incoming data smaller than this is coalesced into shared blocks (bounds per-entry overhead). */
const COALESCE_BELOW = 4096;
const COALESCE_BLOCK = 16384;

/**
 * A stream of a MuxSession. Handlers are plain properties; set them synchronously in
 * onStream / right after openStream (data arriving while `ondata` is unset is held,
 * like while paused, and delivered once it is set).
 *
 * Handlers run synchronously from the session's input processing; they may call any
 * method of the stream or session. `onclose` runs exactly once, also when this side
 * called reset().
 */
export class MuxStream {
  readonly id: number;
  readonly session: MuxSession;

  /** Called when this side should start writing again after write() returned false. */
  ondrain: (() => void) | null = null;
  /** The peer sent FIN: no more data will arrive. */
  onend: (() => void) | null = null;
  /** Fully closed. `err` is undefined when both sides ended cleanly, else why it ended. */
  onclose: ((err?: MuxError) => void) | null = null;

  /** Payload bytes sent on the wire / received from the peer. */
  bytesSent = 0;
  bytesReceived = 0;

  // ---- internal state, driven by the session ------------------------------------------------
  /** @internal */ _ondata: ((bytes: Uint8Array) => void) | null = null;
  /** Set by a consumer whose ondata sends or copies every chunk before returning (DuplexConnection.ondataCopies). */
  ondataCopies = false;
  /** @internal */ _closed = false;
  /** @internal Credit the peer granted us (bytes we may still send). */ _sendCredit = PROTOCOL_INITIAL_WINDOW;
  /** @internal Outgoing bytes not yet framed. */ _outQ: Uint8Array[] = [];
  /** @internal */ _outHead = 0;
  /** @internal Offset into _outQ[_outHead] already framed. */ _outOff = 0;
  /** @internal */ _outBytes = 0;
  /** @internal end() was called. */ _localFin = false;
  /** @internal FIN is in the session's output. */ _finSent = false;
  /** @internal FIN received. */ _remoteFin = false;
  /** @internal onend was delivered. */ _endDelivered = false;
  /** @internal write() returned false; ondrain is owed. */ _needDrain = false;
  /** @internal In the session's list of streams waiting for its buffered total to fall. */ _waitingSession = false;
  /** @internal In the session's round-robin list of streams with sendable data. */ _inReady = false;
  /** @internal */ _nextReady: MuxStream | null = null;
  /** @internal Receive window size (what the peer may have in flight). */ _window: number;
  /** @internal Credit the peer still has (we granted, it has not used). */ _recvCredit = PROTOCOL_INITIAL_WINDOW;
  /** @internal Consumed bytes not yet returned with WINDOW_UPDATE. */ _unacked = 0;
  private paused_ = false;
  private inQ: Uint8Array[] = [];
  private inHead = 0;
  private inBytes = 0;
  private coalesce: Uint8Array | null = null;
  private coalesceLen = 0;
  private delivering = false;

  /** @internal Created by MuxSession only. */
  constructor(session: MuxSession, id: number, window: number) {
    this.session = session;
    this.id = id;
    this._window = window;
  }

  /** Receives the peer's bytes. Setting it delivers what was held meanwhile (on a microtask). */
  get ondata(): ((bytes: Uint8Array) => void) | null {
    return this._ondata;
  }
  set ondata(fn: ((bytes: Uint8Array) => void) | null) {
    this._ondata = fn;
    if (fn !== null && !this.paused_ && this.inBytes > 0) {
      queueMicrotask(() => this.drainInput());
    }
  }

  get closed(): boolean {
    return this._closed;
  }
  get paused(): boolean {
    return this.paused_;
  }
  /** Outgoing bytes accepted by write() but not yet framed (waiting for credit or the transport). */
  get writableLength(): number {
    return this._outBytes;
  }
  /** Incoming bytes held while paused. Never more than the receive window. */
  get readableLength(): number {
    return this.inBytes;
  }
  /** Bytes the peer currently lets us send. */
  get sendWindow(): number {
    return this._sendCredit;
  }
  /** end() was called. */
  get localEnded(): boolean {
    return this._localFin;
  }
  /** The peer's FIN arrived. */
  get remoteEnded(): boolean {
    return this._remoteFin;
  }

  /**
   * Queues bytes to send. Returns false when the caller should wait for `ondrain` (the
   * peer's credit or the transport is exhausted and `writeHighWaterMark` bytes are held).
   * The stream keeps a reference to `bytes` until they are framed: don't modify them.
   * `release`: the buffer is handed over and freed once framed (DuplexConnection.write).
   * Writes after end() or close are dropped and return false.
   */
  write(bytes: Uint8Array, release = false): boolean {
    if (this._closed || this._localFin) return false;
    const s = this.session;
    const len = bytes.byteLength;
    if (len === 0) return this._outBytes < s._writeHighWaterMark;
    if (this._outBytes > s._maxBufferedWrite) {
      // The caller kept writing after false returns: refuse to buffer without bound.
      this._fail(new MuxError("BUFFER_OVERFLOW", `stream ${this.id}: ${this._outBytes} bytes buffered, write() backpressure ignored`), RstCode.BUFFER_OVERFLOW);
      return false;
    }
    this._outQ.push(bytes);
    if (release) handedOver.add(bytes);
    this._outBytes += len;
    s._bufferedOut += len;
    if (!this._inReady && this._sendCredit > 0) s._streamHasData(this);
    if (this._outBytes >= s._writeHighWaterMark) {
      this._needDrain = true;
      return false;
    }
    if (s._bufferedOut >= s._maxSessionBuffered && !this._closed) {
      // The session as a whole holds too much: every writer waits, whatever its own queue.
      this._needDrain = true;
      s._waitForSessionDrain(this);
      return false;
    }
    return true;
  }

  /** Half-close: FIN after the queued data. Reading continues until the peer's FIN. */
  end(): void {
    if (this._closed || this._localFin) return;
    this._localFin = true;
    if (this._outBytes === 0) {
      this.session._sendFin(this);
      this._maybeClose();
    }
  }

  /** Aborts both directions: RST to the peer, queued data dropped, onclose(err RESET). */
  reset(code: number = RstCode.CANCEL): void {
    if (this._closed) return;
    this.session._sendRst(this.id, code);
    this._finalize(new MuxError("RESET", `stream ${this.id} reset (${rstCodeName(code)})`, { wireCode: code }));
  }

  /** Stops delivering data. No WINDOW_UPDATE is sent while paused, so the peer stops after one window. */
  pause(): void {
    this.paused_ = true;
  }

  resume(): void {
    if (!this.paused_) return;
    this.paused_ = false;
    if (this._closed) return;
    this.drainInput();
  }

  // ---- driven by the session -------------------------------------------------------------

  /**
   * @internal DATA from the peer; the session checked the frame belongs here. Returns true
   * when a view of `payload` may outlive the call (held here, or given to a consumer that
   * does not declare `ondataCopies`).
   */
  _receive(payload: Uint8Array): boolean {
    if (this._remoteFin) {
      this._fail(new MuxError("PROTOCOL_ERROR", `stream ${this.id}: DATA after FIN`, { remote: true }), RstCode.PROTOCOL_ERROR);
      return false;
    }
    const len = payload.byteLength;
    if (len > this._recvCredit) {
      this._fail(
        new MuxError("FLOW_CONTROL", `stream ${this.id}: peer sent ${len} bytes with ${this._recvCredit} bytes of credit`, { remote: true }),
        RstCode.FLOW_CONTROL,
      );
      return false;
    }
    this._recvCredit -= len;
    this.bytesReceived += len;
    if (len === 0) return false;
    if (this.paused_ || this.inBytes > 0 || this._ondata === null || this.delivering) return this.hold(payload);
    this.deliver(payload);
    return !this.ondataCopies;
  }

  /** @internal FIN from the peer. */
  _receiveFin(): void {
    if (this._remoteFin) {
      this._fail(new MuxError("PROTOCOL_ERROR", `stream ${this.id}: second FIN`, { remote: true }), RstCode.PROTOCOL_ERROR);
      return;
    }
    this._remoteFin = true;
    // With nothing held, the end is delivered even to a write-only stream (no ondata).
    if (!this.paused_ && this.inBytes === 0 && !this.delivering) this.deliverEnd();
  }

  /** @internal */
  _maybeClose(): void {
    if (!this._closed && this._finSent && this._endDelivered) this._finalize(undefined);
  }

  /** @internal Resets toward the peer and closes with `err`. */
  _fail(err: MuxError, rstCode: number): void {
    if (this._closed) return;
    this.session._sendRst(this.id, rstCode);
    this._finalize(err);
  }

  /** @internal Fully closed: leaves the session, drops queues, reports once. */
  _finalize(err: MuxError | undefined): void {
    if (this._closed) return;
    this._closed = true;
    this.session._bufferedOut -= this._outBytes;
    this._outQ = [];
    this._outHead = 0;
    this._outOff = 0;
    this._outBytes = 0;
    this.inQ = [];
    this.inHead = 0;
    this.inBytes = 0;
    this.coalesce = null;
    this._needDrain = false;
    this.session._streamClosed(this);
    const cb = this.onclose;
    this.onclose = null;
    if (cb !== null) {
      try {
        cb(err);
      } catch (e) {
        this.session._callbackError(e, "onclose");
      }
    }
  }

  /** @internal Copies `n` queued outgoing bytes into `dst` (the session frames them). */
  _takeOut(dst: Uint8Array, off: number, n: number): void {
    this._outBytes -= n;
    this.session._bufferedOut -= n;
    const q = this._outQ;
    while (n > 0) {
      const c = q[this._outHead]!;
      const avail = c.byteLength - this._outOff;
      if (avail <= n) {
        dst.set(this._outOff === 0 ? c : c.subarray(this._outOff), off);
        off += avail;
        n -= avail;
        q[this._outHead++] = undefined as never;
        if (handedOver.delete(c)) releaseBuffer(c);
        this._outOff = 0;
      } else {
        dst.set(c.subarray(this._outOff, this._outOff + n), off);
        this._outOff += n;
        n = 0;
      }
    }
    if (this._outHead === q.length) {
      q.length = 0;
      this._outHead = 0;
    } else if (this._outHead > 64 && this._outHead * 2 > q.length) {
      q.splice(0, this._outHead);
      this._outHead = 0;
    }
  }

  private deliver(payload: Uint8Array): void {
    try {
      this._ondata!(payload);
    } catch (e) {
      this.callbackFailed(e, "ondata");
      return;
    }
    this.consumed(payload.byteLength);
  }

  private consumed(len: number): void {
    this._unacked += len;
    if (!this.paused_ && !this._closed) this.session._maybeWindowUpdate(this);
  }

  private deliverEnd(): void {
    this._endDelivered = true;
    const cb = this.onend;
    if (cb !== null) {
      try {
        cb();
      } catch (e) {
        this.callbackFailed(e, "onend");
        return;
      }
    }
    this._maybeClose();
  }

  private callbackFailed(e: unknown, where: string): void {
    this.session._callbackError(e, where);
    this._fail(new MuxError("CALLBACK_ERROR", `stream ${this.id}: ${where} handler threw`, { cause: e }), RstCode.INTERNAL);
  }

  /** Queues a payload while delivery waits; returns true when it keeps a view of the payload (not a copy). */
  private hold(payload: Uint8Array): boolean {
    const len = payload.byteLength;
    this.inBytes += len;
    if (len < COALESCE_BELOW) {
      // Small frames share blocks: the held memory stays proportional to the bytes held.
      let block = this.coalesce;
      if (block === null || block.byteLength - this.coalesceLen < len) {
        block = this.coalesce = new Uint8Array(COALESCE_BLOCK);
        this.coalesceLen = 0;
        this.inQ.push(block.subarray(0, 0));
      }
      block.set(payload, this.coalesceLen);
      this.coalesceLen += len;
      const last = this.inQ.length - 1;
      const view = this.inQ[last]!;
      this.inQ[last] = block.subarray(view.byteOffset, this.coalesceLen);
      return false;
    }
    this.coalesce = null;
    // A view pins the whole transport chunk; keep it only when it is most of that chunk.
    if (payload.buffer.byteLength > len * 2) {
      this.inQ.push(copyBytes(payload));
      return false;
    }
    this.inQ.push(payload);
    return true;
  }

  private drainInput(): void {
    if (this.delivering || this._closed) return;
    this.delivering = true;
    try {
      while (!this.paused_ && this.inBytes > 0 && this._ondata !== null && !this._closed) {
        const c = this.inQ[this.inHead]!;
        this.inQ[this.inHead++] = undefined as never;
        if (this.inHead === this.inQ.length) {
          this.inQ.length = 0;
          this.inHead = 0;
          this.coalesce = null;
        }
        this.inBytes -= c.byteLength;
        this.deliver(c);
      }
    } finally {
      this.delivering = false;
    }
    if (this._closed || this.paused_) return;
    if (this._remoteFin && !this._endDelivered && this.inBytes === 0) this.deliverEnd();
    else this.session._maybeWindowUpdate(this);
  }
}
