// The byte pipe a mux session runs over, and its two production implementations: Bun's
// server-side ServerWebSocket and Bun's client WebSocket (the in-memory pair for tests and
// benchmarks is in memory-transport.ts). A transport is a byte stream: message boundaries carry no meaning (one
// WebSocket message may hold several frames, or part of one).

import { releaseBuffer } from "../net/release-buffer.ts";

/** What a transport reports to the session that bound it. */
export interface TransportHandlers {
  /**
   * Incoming bytes. The view stays valid after the call (the session may keep sub-views).
   * Returns true when nothing kept a view of `chunk`: a transport that owns the buffer
   * (a fresh socket read or message) may then free it at once (lib/net/release-buffer.ts).
   */
  data(chunk: Uint8Array): boolean | void;
  /** The transport can take more after send() returned false. */
  drain(): void;
  /** Called exactly once, whether the close was local or remote. */
  close(code: number, reason: string): void;
}

export interface Transport {
  /**
   * Sends bytes. The transport copies or writes them before returning (the caller reuses
   * its buffer). Returns false when backpressured: the bytes were kept, but the caller
   * must stop producing until `drain`. Returns false after close (bytes dropped).
   */
  send(bytes: Uint8Array): boolean;
  /**
   * Optional zero-copy send for a transport that frames what it sends (WebSocket framing
   * over a byte connection): the caller leaves `headroom` bytes free right in front of
   * `bytes` in the same buffer, and the transport writes its frame header there and sends
   * header and payload as one view instead of copying both into a new buffer. Otherwise
   * as send(); the headroom bytes are overwritten.
   */
  sendAfterHeadroom?(bytes: Uint8Array): boolean;
  /** Bytes sendAfterHeadroom needs in front of the payload. */
  readonly headroom?: number;
  /** Closes after the bytes already accepted are flushed where the transport allows it. */
  close(code?: number, reason?: string): void;
  /** Installs the handlers; data and close that arrived earlier are replayed now. */
  bind(handlers: TransportHandlers): void;
  readonly closed: boolean;
}

/** Events that arrive before bind() are held, up to this many bytes (then the transport closes). */
const MAX_EARLY_BYTES = 4 * 1024 * 1024;

/** Close codes (WebSocket numbering, used by every transport for uniform logs). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006,
  INTERNAL: 1011,
} as const;

/** Shared bookkeeping: handler binding, early events, close exactly once. */
export abstract class TransportBase implements Transport {
  private handlers: TransportHandlers | null = null;
  private early: Uint8Array[] = [];
  private earlyBytes = 0;
  private earlyDrain = false;
  private earlyClose: [number, string] | null = null;
  private closeDelivered = false;
  protected isClosed = false;

  abstract send(bytes: Uint8Array): boolean;
  abstract close(code?: number, reason?: string): void;

  get closed(): boolean {
    return this.isClosed;
  }

  bind(handlers: TransportHandlers): void {
    if (this.handlers) throw new Error("transport already bound to a session");
    this.handlers = handlers;
    const early = this.early;
    this.early = [];
    for (const c of early) {
      if (this.closeDelivered) return;
      handlers.data(c);
    }
    if (this.earlyDrain) handlers.drain();
    if (this.earlyClose && !this.closeDelivered) {
      this.closeDelivered = true;
      handlers.close(this.earlyClose[0], this.earlyClose[1]);
    }
  }

  /** True when the session kept no view of `chunk` (see TransportHandlers.data). */
  protected deliverData(chunk: Uint8Array): boolean {
    if (this.closeDelivered) return false;
    const h = this.handlers;
    if (h !== null) return h.data(chunk) === true;
    this.earlyBytes += chunk.byteLength;
    if (this.earlyBytes > MAX_EARLY_BYTES) {
      this.close(CloseCode.INTERNAL, "no session bound to the transport");
      return false;
    }
    this.early.push(chunk);
    return false;
  }

  protected deliverDrain(): void {
    if (this.closeDelivered) return;
    if (this.handlers !== null) this.handlers.drain();
    else this.earlyDrain = true;
  }

  protected deliverClose(code: number, reason: string): void {
    this.isClosed = true;
    if (this.closeDelivered) return;
    if (this.handlers !== null) {
      this.closeDelivered = true;
      this.handlers.close(code, reason);
    } else if (!this.earlyClose) {
      this.earlyClose = [code, reason];
    }
  }
}

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
function wsReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 120) r = r.slice(0, -1);
  return `${r}...`;
}

/** WebSocket close codes a sender may use (RFC 6455 7.4); others become 1000/1011. */
function wsCode(code: number): number {
  if ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)) return code;
  return code === CloseCode.ABNORMAL ? CloseCode.INTERNAL : CloseCode.NORMAL;
}

function toBytes(message: unknown): Uint8Array | null {
  if (message instanceof Uint8Array) return message;
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  return null;
}

// ---- Bun server-side WebSocket ------------------------------------------------------------

/** The part of Bun's ServerWebSocket the adapter uses. */
export interface ServerWebSocketLike {
  send(data: Uint8Array, compress?: boolean): number;
  close(code?: number, reason?: string): void;
}

/**
 * Adapter for a Bun.serve WebSocket. Bun calls handlers configured on the server, so the
 * server's websocket handlers forward to this object:
 *
 *   open(ws)             { ws.data.transport = new ServerWebSocketTransport(ws); createMuxSession({ transport: ws.data.transport, ... }) }
 *   message(ws, msg)     { ws.data.transport.handleMessage(msg) }
 *   drain(ws)            { ws.data.transport.handleDrain() }
 *   close(ws, code, why) { ws.data.transport.handleClose(code, why) }
 *
 * (serverTransportHandlers below are those last three.)
 *
 * ws.send() returns -1 when Bun buffered the message (backpressure: wait for drain), 0
 * when it dropped it (closed, or over `backpressureLimit`), else the bytes sent. A drop
 * would corrupt the byte stream, so it closes the connection. Keep Bun's `idleTimeout`
 * above the keepalive interval, and leave perMessageDeflate off (the data is mostly
 * already compressed or encrypted, and deflate costs more CPU than the tunnel itself).
 */
export class ServerWebSocketTransport extends TransportBase {
  constructor(private readonly ws: ServerWebSocketLike) {
    super();
  }

  send(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    const r = this.ws.send(bytes, false);
    if (r > 0) return true;
    if (r === -1) return false;
    this.close(CloseCode.INTERNAL, "websocket send buffer overflow");
    return false;
  }

  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      this.ws.close(wsCode(code), wsReason(reason));
    } catch {
      // Already closed by the peer: the close handler reports it.
    }
  }

  handleMessage(message: unknown): void {
    const bytes = toBytes(message);
    if (bytes === null) {
      this.close(CloseCode.UNSUPPORTED_DATA, "text message on a binary tunnel");
      this.deliverClose(CloseCode.UNSUPPORTED_DATA, "text message on a binary tunnel");
      return;
    }
    // Bun hands out a new buffer per message.
    if (this.deliverData(bytes)) releaseBuffer(bytes);
  }

  handleDrain(): void {
    this.deliverDrain();
  }

  handleClose(code: number, reason: string): void {
    this.deliverClose(code, reason);
  }
}

/** A Bun server WebSocket whose `data.transport` holds its adapter once the server's `open` has set it. */
interface WebSocketWithTransport {
  data: { transport?: ServerWebSocketTransport | null };
}

/** The message, drain and close handlers of a Bun.serve websocket: each forwards to the connection's adapter. */
export const serverTransportHandlers = {
  message(ws: WebSocketWithTransport, message: unknown): void {
    ws.data.transport?.handleMessage(message);
  },
  drain(ws: WebSocketWithTransport): void {
    ws.data.transport?.handleDrain();
  },
  close(ws: WebSocketWithTransport, code: number, reason: string): void {
    ws.data.transport?.handleClose(code, reason);
  },
};

export function createServerWebSocketTransport(ws: ServerWebSocketLike): ServerWebSocketTransport {
  return new ServerWebSocketTransport(ws);
}

// ---- Bun client WebSocket ---------------------------------------------------------------

export interface WebSocketTransportOptions {
  /** bufferedAmount at which send() reports backpressure (default 4 MiB). */
  highWaterMark?: number;
  /** bufferedAmount at or below which drain fires (default 1 MiB). */
  lowWaterMark?: number;
  /** Poll period while backpressured; Bun's client WebSocket has no drain event (default 1 ms). */
  pollMs?: number;
}

/**
 * Adapter for an open client WebSocket (Bun's global WebSocket). Create the socket with
 * `perMessageDeflate: false`. Backpressure is read from `bufferedAmount`, polled only
 * while it is above the high-water mark.
 */
export class WebSocketTransport extends TransportBase {
  private readonly high: number;
  private readonly low: number;
  private readonly pollMs: number;
  private poll: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly ws: WebSocket,
    opts: WebSocketTransportOptions = {},
  ) {
    super();
    if (ws.readyState !== WebSocket.OPEN) throw new Error("WebSocketTransport needs an open WebSocket");
    this.high = opts.highWaterMark ?? 4 * 1024 * 1024;
    this.low = Math.min(opts.lowWaterMark ?? 1024 * 1024, this.high);
    this.pollMs = opts.pollMs ?? 1;
    (ws as { binaryType: string }).binaryType = "nodebuffer";
    ws.onmessage = (ev: MessageEvent) => {
      const bytes = toBytes(ev.data);
      if (bytes === null) {
        this.close(CloseCode.UNSUPPORTED_DATA, "text message on a binary tunnel");
        return;
      }
      // Bun hands out a new buffer per message.
      if (this.deliverData(bytes)) releaseBuffer(bytes);
    };
    ws.onclose = (ev: CloseEvent) => this.closed_(ev.code, ev.reason);
    ws.onerror = () => {
      // The close event follows with code 1006.
    };
  }

  send(bytes: Uint8Array): boolean {
    if (this.isClosed) return false;
    try {
      this.ws.send(bytes);
    } catch {
      this.closed_(CloseCode.ABNORMAL, "send on a closed websocket");
      return false;
    }
    if (this.ws.bufferedAmount < this.high) return true;
    if (this.poll === null) this.poll = setInterval(this.check, this.pollMs);
    return false;
  }

  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.stopPoll();
    try {
      this.ws.close(wsCode(code), wsReason(reason));
    } catch {
      (this.ws as { terminate?: () => void }).terminate?.();
    }
  }

  private readonly check = (): void => {
    if (this.isClosed) return this.stopPoll();
    if (this.ws.bufferedAmount <= this.low) {
      this.stopPoll();
      this.deliverDrain();
    }
  };

  private stopPoll(): void {
    if (this.poll !== null) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  private closed_(code: number, reason: string): void {
    this.stopPoll();
    this.deliverClose(code, reason);
  }
}

export function createWebSocketTransport(ws: WebSocket, opts?: WebSocketTransportOptions): WebSocketTransport {
  return new WebSocketTransport(ws, opts);
}

/** Why a client WebSocket closed before it opened. */
export interface WebSocketOpenFailure {
  /** The attempt ran out of time (the socket was closed by us). */
  timedOut: boolean;
  code: number;
  reason: string;
  /** The error event's message: Bun names the failure (and an HTTP refusal's status) only there. */
  error: string;
}

/**
 * Waits for a client WebSocket to open and wraps it in a transport; a close first (a
 * refusal, a timeout after `timeoutMs`, an abort) rejects with `describe`'s text.
 */
export function openWebSocketTransport(
  ws: WebSocket,
  opts: { timeoutMs: number; signal: AbortSignal; describe(failure: WebSocketOpenFailure): string },
): Promise<WebSocketTransport> {
  return new Promise((resolve, reject) => {
    // A host that drops packets would hold the attempt for minutes.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ws.close();
    }, opts.timeoutMs);
    const abort = () => ws.close();
    opts.signal.addEventListener("abort", abort, { once: true });
    let error = "";
    ws.addEventListener("error", (ev) => void (error = String((ev as ErrorEvent).message ?? "")));
    ws.addEventListener("open", () => {
      clearTimeout(timer);
      opts.signal.removeEventListener("abort", abort);
      resolve(new WebSocketTransport(ws));
    });
    ws.addEventListener("close", (ev) => {
      clearTimeout(timer);
      opts.signal.removeEventListener("abort", abort);
      // After open the transport reports the close; before it, this is the failure.
      reject(new Error(opts.describe({ timedOut, code: ev.code, reason: ev.reason, error })));
    });
  });
}
