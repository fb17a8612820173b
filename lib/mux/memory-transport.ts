// An in-memory transport pair for tests and benchmarks: delivers on a later event-loop
// turn like a socket, with optional backpressure, chunk re-splitting and partitions.
import { CloseCode, TransportBase } from "./transport.ts";

export interface MemoryTransportOptions {
  /** Bytes queued toward the peer before send() returns false (default: never). */
  highWaterMark?: number;
  /** Bytes delivered to the peer per event-loop turn (default: everything queued); makes backpressure last. */
  bytesPerTick?: number;
  /** Re-split deliveries into chunks of at most this many bytes. */
  maxChunk?: number;
  /** With maxChunk: pick each chunk size at random in [1, maxChunk] from this seed. */
  randomSeed?: number;
}

/**
 * One end of an in-memory byte pipe. Deliveries happen on a later event-loop turn (like
 * a socket), in order; close() delivers what was already sent, then the close.
 */
export class MemoryTransport extends TransportBase {
  /** @internal */ peer!: MemoryTransport;
  private queue: Uint8Array[] = [];
  private queueHead = 0;
  private queued = 0;
  private blocked = false;
  private scheduled = false;
  private pendingClose: [number, string] | null = null;
  private cut = false;
  private rng: number;
  /** Bytes handed to send(), for tests. */
  bytesSent = 0;
  sends = 0;

  constructor(private readonly opts: MemoryTransportOptions) {
    super();
    this.rng = opts.randomSeed ?? 0;
  }

  get bufferedAmount(): number {
    return this.queued;
  }

  send(bytes: Uint8Array): boolean {
    if (this.isClosed || this.pendingClose) return false;
    this.sends++;
    this.bytesSent += bytes.byteLength;
    if (this.cut) return true;
    this.queue.push(bytes.slice());
    this.queued += bytes.byteLength;
    this.schedule();
    if (this.queued >= (this.opts.highWaterMark ?? Infinity)) {
      this.blocked = true;
      return false;
    }
    return true;
  }

  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.isClosed || this.pendingClose) return;
    this.pendingClose = [code, reason];
    this.schedule();
  }

  /** Simulates a silent network partition: from now on nothing is delivered either way, and no close. */
  partition(): void {
    this.cut = true;
    this.peer.cut = true;
    this.queue = [];
    this.queueHead = 0;
    this.peer.queue = [];
    this.peer.queueHead = 0;
  }

  /** Simulates an abrupt connection loss: both ends see a close now, queued bytes are lost. */
  abort(code: number = CloseCode.ABNORMAL, reason = "connection lost"): void {
    this.queue = [];
    this.queueHead = 0;
    this.peer.queue = [];
    this.peer.queueHead = 0;
    this.deliverClose(code, reason);
    this.peer.deliverClose(code, reason);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.pump);
  }

  private readonly pump = (): void => {
    this.scheduled = false;
    if (this.isClosed) return;
    let budget = this.opts.bytesPerTick ?? Infinity;
    const peer = this.peer;
    while (this.queueHead < this.queue.length && budget > 0 && !this.cut) {
      let c = this.queue[this.queueHead]!;
      if (c.byteLength > budget) {
        this.queue[this.queueHead] = c.subarray(budget);
        c = c.subarray(0, budget);
      } else {
        this.queue[this.queueHead++] = undefined as never;
      }
      budget -= c.byteLength;
      this.queued -= c.byteLength;
      this.deliverTo(peer, c);
    }
    if (this.queueHead >= this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    }
    if (this.queueHead < this.queue.length && !this.cut) {
      this.schedule();
    } else if (this.pendingClose) {
      const [code, reason] = this.pendingClose;
      this.deliverClose(code, reason);
      // Across a partition the peer never hears of the close (it finds out by keepalive).
      if (!this.cut) peer.deliverClose(code, reason);
      return;
    }
    if (this.blocked && this.queued < (this.opts.highWaterMark ?? Infinity)) {
      this.blocked = false;
      this.deliverDrain();
    }
  };

  private deliverTo(peer: MemoryTransport, c: Uint8Array): void {
    const max = this.opts.maxChunk;
    if (!max || c.byteLength <= 1) {
      peer.deliverData(c);
      return;
    }
    for (let i = 0; i < c.byteLength; ) {
      let n = max;
      if (this.opts.randomSeed !== undefined) {
        this.rng = (Math.imul(this.rng, 1664525) + 1013904223) >>> 0;
        n = 1 + (this.rng % max);
      }
      peer.deliverData(c.subarray(i, i + n));
      i += n;
    }
  }
}

/** Two connected in-memory transports (a is the client end by convention). */
export function createMemoryTransportPair(opts: MemoryTransportOptions = {}, optsB: MemoryTransportOptions = opts): [MemoryTransport, MemoryTransport] {
  const a = new MemoryTransport(opts);
  const b = new MemoryTransport(optsB);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
