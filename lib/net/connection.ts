/**
 * The byte-stream shape the engines work with (SOCKS, tunnel, edge), and its
 * adapter for Bun sockets. The shape is the one of a tunnel mux stream (write/end/
 * reset/pause/resume plus ondata/onend/onclose/ondrain), so a visitor can be joined
 * to a plain TCP socket or to a stream inside a tunnel with the same code.
 */
import type { Socket, SocketHandler } from "bun";
import { copyBytes, releaseArrayBuffer, releaseBuffer } from "./release-buffer.ts";

/**
 * A callback property type that is bivariant in its parameters (method-signature
 * trick), so a stream whose `onclose` takes a subclass of Error still fits.
 */
type Handler<A extends unknown[]> = { bivarianceHack(...args: A): void }["bivarianceHack"];

export interface DuplexConnection {
  /**
   * Queues bytes for sending. Returns false when the caller should stop writing
   * until `ondrain` (the bytes are still accepted). Writes after end()/close are
   * dropped. The connection may keep a reference to `bytes`: don't modify them.
   * `release`: the caller hands the buffer over (it will not touch it again and nobody
   * else holds a view of it), so the connection may free its memory once the bytes are
   * sent or copied (lib/net/release-buffer.ts). Connections that cannot tell ignore it.
   */
  write(bytes: Uint8Array, release?: boolean): boolean;
  /** True when write() has sent or copied the bytes by the time it returns (the caller may reuse its buffer). */
  readonly copiesWrites?: boolean;
  /**
   * Set by the consumer: its ondata sends or copies every chunk before it returns and keeps
   * no view of it, so a read buffer behind the chunk may be freed right after the call.
   * (A copy is `copyBytes(bytes)`: on a Buffer, `slice()` is a view.)
   */
  ondataCopies?: boolean;
  /** True when every ondata chunk is a buffer of its own that nobody else holds (a socket read): a consumer may hand it over with write(bytes, true). */
  readonly freshReads?: boolean;
  /** Half-close: send what is queued, then signal end of stream to the peer. Idempotent. */
  end(): void;
  /** Abort both directions now, discarding queued bytes. Idempotent. */
  reset(): void;
  /** Stop delivering `ondata` (and a pending `onend`) until resume(). */
  pause(): void;
  resume(): void;
  ondata?: Handler<[bytes: Uint8Array]> | null;
  /** The peer will send no more data. */
  onend?: Handler<[]> | null;
  /** Fired exactly once, when both directions are finished or the stream was aborted. */
  onclose?: Handler<[error?: Error]> | null;
  /** The queue drained after write() returned false. */
  ondrain?: Handler<[]> | null;
}

export interface BunSocketConnectionOptions {
  /**
   * Hard cap on bytes queued because the kernel took less than offered. A caller
   * that respects write()'s return value never gets near it; one that does not is
   * cut off instead of growing memory without bound.
   */
  maxQueuedBytes?: number;
}

const DEFAULT_MAX_QUEUED = 4 * 1024 * 1024;

/**
 * Wraps a Bun socket. Bun does not buffer what `socket.write` could not take (it
 * returns the count written), so the rest is queued here until the `drain` event.
 * Half-close maps to `socket.shutdown()`; `socket.end()` would close both
 * directions at once. The socket must be opened with `allowHalfOpen: true`, or Bun
 * closes it as soon as the peer sends FIN and half-closed relays lose data.
 *
 * A new connection starts paused: bytes that arrive before the consumer has set
 * its handlers are held (Bun stops reading), never dropped.
 */
export class BunSocketConnection implements DuplexConnection {
  ondata?: ((bytes: Uint8Array) => void) | null;
  onend?: (() => void) | null;
  onclose?: ((error?: Error) => void) | null;
  ondrain?: (() => void) | null;

  /** What the socket could not take at once is copied into the queue. */
  readonly copiesWrites = true;
  /** Bun allocates a new buffer for every read. */
  readonly freshReads = true;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private paused = true;
  private endRequested = false;
  private writeShut = false;
  private closed = false;
  private closeNotified = false;
  private closeError?: Error;
  private held: Uint8Array[] = [];
  private endHeld = false;
  private readonly maxQueued: number;

  constructor(
    readonly socket: Socket<any>,
    opts: BunSocketConnectionOptions = {},
  ) {
    this.maxQueued = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED;
    socket.pause();
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress;
  }

  write(bytes: Uint8Array, release = false): boolean {
    if (this.closed || this.endRequested) return false;
    if (bytes.length === 0) return this.queue.length === 0;
    let sent = true;
    // What waits is copied, so a caller that reuses its buffer cannot corrupt the queue
    // (cheap: only after a short write).
    if (this.queue.length === 0) {
      const n = this.socket.write(bytes);
      if (n < 0) return false; // closing; the close event follows
      if (n < bytes.length) {
        this.enqueue(copyBytes(bytes.subarray(n)));
        sent = false;
      }
    } else {
      this.enqueue(copyBytes(bytes));
      sent = false;
    }
    if (release) releaseBuffer(bytes);
    return sent;
  }

  end(): void {
    if (this.closed || this.endRequested) return;
    this.endRequested = true;
    if (this.queue.length === 0) this.shutdownWrite();
  }

  reset(): void {
    if (!this.closed) {
      this.closed = true;
      this.queue = [];
      this.queued = 0;
      this.socket.terminate();
    }
    // A reset is final: nothing held back is delivered any more.
    this.held = [];
    this.endHeld = false;
    this.notifyClose();
  }

  pause(): void {
    this.paused = true;
    if (!this.closed) this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.deliverHeld();
    if (!this.paused && !this.closed) this.socket.resume();
  }

  /**
   * Hands the socket over to a new owner (a TLS upgrade on the same socket): this
   * connection gets no more events and fires no onclose. Returns what was received but
   * not yet delivered (a chunk Bun handed out right after pause()), in order.
   */
  detach(): Uint8Array[] {
    const held = this.held;
    this.held = [];
    this.endHeld = false;
    this.closed = true;
    this.closeNotified = true;
    this.queue = [];
    this.queued = 0;
    const slot = this.socket.data as ConnectionSlot | undefined;
    if (slot && slot.connection === this) slot.connection = undefined;
    return held;
  }

  // ---- Bun socket events (wired by `bunSocketHandlers`) --------------------------

  handleData(chunk: Uint8Array): void {
    if (this.paused || !this.ondata || this.held.length > 0) {
      // Bun may deliver one more chunk right after pause(); keep it (Bun hands out
      // a fresh buffer per event) and make sure reading really stops.
      this.held.push(chunk);
      if (!this.closed) this.socket.pause();
      return;
    }
    this.ondata(chunk);
  }

  handleEnd(): void {
    if (this.paused || this.held.length > 0) {
      this.endHeld = true;
      return;
    }
    this.onend?.();
  }

  handleDrain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const n = this.socket.write(head);
      if (n < 0) return;
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
      // Every queued chunk is a copy of our own (copyBytes): its memory goes back at once.
      releaseArrayBuffer(head.buffer);
    }
    if (this.endRequested) this.shutdownWrite();
    else this.ondrain?.();
  }

  handleClose(error?: Error): void {
    this.closed = true;
    this.closeError ??= error;
    this.queue = [];
    this.queued = 0;
    // After a clean close, data and end that arrived before it are still delivered,
    // in order, once the consumer resumes. An abrupt close loses them anyway.
    if (this.closeError) {
      this.held = [];
      this.endHeld = false;
    }
    if (this.held.length === 0 && !this.endHeld) this.notifyClose();
  }

  /** A Bun `error` event (failed TLS record, a throwing handler): abort. */
  handleError(error: Error): void {
    this.closeError ??= error;
    this.reset();
  }

  private enqueue(bytes: Uint8Array): void {
    this.queue.push(bytes);
    this.queued += bytes.length;
    if (this.queued > this.maxQueued) this.reset();
  }

  private shutdownWrite(): void {
    if (this.writeShut || this.closed) return;
    this.writeShut = true;
    this.socket.shutdown();
  }

  private deliverHeld(): void {
    while (!this.paused && this.held.length > 0 && this.ondata) this.ondata(this.held.shift()!);
    if (this.paused || this.held.length > 0) return;
    if (this.endHeld) {
      this.endHeld = false;
      this.onend?.();
    }
    if (this.closed) this.notifyClose();
  }

  private notifyClose(): void {
    if (this.closeNotified) return;
    this.closeNotified = true;
    this.onclose?.(this.closeError);
  }
}

/** What `bunSocketHandlers` keeps in `socket.data`. */
export interface ConnectionSlot {
  connection?: BunSocketConnection;
}

/**
 * Bun socket handlers that forward events to the socket's BunSocketConnection,
 * created in `open` and stored in `socket.data.connection`.
 */
export function bunSocketHandlers<D extends ConnectionSlot>(
  onOpen: (connection: BunSocketConnection, socket: Socket<D>) => void,
  opts: BunSocketConnectionOptions = {},
): SocketHandler<D> {
  return {
    binaryType: "uint8array",
    open(socket) {
      const connection = new BunSocketConnection(socket, opts);
      // Bun.listen hands every accepted socket the same `data` object: give each its own.
      socket.data = { ...socket.data, connection };
      onOpen(connection, socket);
    },
    data(socket, chunk) {
      const connection = socket.data.connection;
      if (connection) connection.handleData(chunk);
      // Detached by a TLS upgrade on this socket: Bun still hands the old handlers every
      // encrypted read (a copy of its own, which nobody reads), so it is freed at once.
      else releaseBuffer(chunk);
    },
    end(socket) {
      socket.data.connection?.handleEnd();
    },
    drain(socket) {
      socket.data.connection?.handleDrain();
    },
    close(socket, error) {
      socket.data.connection?.handleClose(error);
    },
    error(socket, error) {
      socket.data.connection?.handleError(error);
    },
  };
}
