/**
 * Bridges between our DuplexConnection shape and node:stream's Duplex, both ways, so
 * node:tls can run over a connection we already hold (in-process TLS termination after
 * the ClientHello was read) and its plaintext side can be joined with `pipe` like any
 * socket. Both adapters keep back-pressure: nothing here buffers without bound.
 */
import { Duplex } from "node:stream";
import type { DuplexConnection } from "./connection.ts";

/**
 * A node Duplex over a DuplexConnection. Reading stops (the connection is paused) when
 * the Duplex's readable buffer is full; a write completes once the connection took it
 * without reporting back-pressure, or at its next drain.
 */
export function duplexOverConnection(conn: DuplexConnection, initial?: Uint8Array): Duplex {
  let writeDone: ((err?: Error | null) => void) | null = null;
  const d = new Duplex({
    // Records are up to 16 KiB + overhead; 64 KiB lets a few queue before pausing.
    readableHighWaterMark: 64 * 1024,
    read() {
      conn.resume();
    },
    write(chunk: Uint8Array, _enc, cb) {
      if (conn.write(chunk)) cb();
      else writeDone = cb;
    },
    final(cb) {
      conn.end();
      cb();
    },
    destroy(err, cb) {
      conn.reset();
      cb(err);
    },
  });
  conn.ondata = (bytes) => {
    if (!d.push(bytes)) conn.pause();
  };
  conn.ondrain = () => {
    const cb = writeDone;
    writeDone = null;
    cb?.();
  };
  conn.onend = () => d.push(null);
  conn.onclose = (err) => {
    const cb = writeDone;
    writeDone = null;
    cb?.(err ?? null);
    if (err) d.destroy(err);
    else if (!d.destroyed) d.push(null);
  };
  if (initial && initial.length > 0) d.push(initial);
  return d;
}

export interface StreamConnectionOptions {
  /** Bytes the stream may hold beyond its high-water mark before the connection is cut (a writer ignoring back-pressure). */
  maxQueuedBytes?: number;
  /**
   * The stream this one writes into (a TLSSocket's transport). Bun's TLSSocket over a
   * Duplex completes plaintext writes at once, whatever its transport does, so the
   * transport's back-pressure is read here: write() reports false while it needs a drain.
   */
  lower?: Duplex;
}

const DEFAULT_MAX_QUEUED = 4 * 1024 * 1024;

/**
 * A DuplexConnection over a node Duplex (a TLSSocket's plaintext side). Starts paused,
 * like BunSocketConnection: nothing is delivered until resume().
 */
export class StreamConnection implements DuplexConnection {
  ondata?: ((bytes: Uint8Array) => void) | null;
  onend?: (() => void) | null;
  onclose?: ((error?: Error) => void) | null;
  ondrain?: (() => void) | null;

  private closed = false;
  private closeError?: Error;
  private readonly maxQueued: number;
  private readonly lower?: Duplex;

  constructor(
    readonly stream: Duplex,
    opts: StreamConnectionOptions = {},
  ) {
    this.maxQueued = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED;
    this.lower = opts.lower;
    stream.pause();
    stream.on("data", (chunk: Uint8Array) => this.ondata?.(chunk));
    stream.on("end", () => this.onend?.());
    const drained = () => {
      if (!this.stream.writableNeedDrain && !this.lower?.writableNeedDrain) this.ondrain?.();
    };
    stream.on("drain", drained);
    this.lower?.on("drain", drained);
    stream.on("error", (err: Error) => {
      this.closeError ??= err;
    });
    stream.on("close", () => this.finish());
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed || this.stream.writableEnded || this.stream.destroyed) return false;
    const queued = this.stream.writableLength + (this.lower?.writableLength ?? 0);
    if (queued > this.maxQueued) {
      this.closeError ??= new Error(`${queued} bytes queued, write() back-pressure ignored`);
      this.reset();
      return false;
    }
    const ok = this.stream.write(bytes);
    return ok && !this.lower?.writableNeedDrain;
  }

  end(): void {
    if (this.closed || this.stream.writableEnded) return;
    this.stream.end();
  }

  reset(): void {
    if (this.closed) return;
    this.stream.destroy();
    this.finish();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    if (!this.closed) this.stream.resume();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.(this.closeError);
  }
}
