// One bidirectional pipe between a Bun TCP socket and a mux stream, with backpressure
// both ways, half-close both ways, and a single close of both ends (chisel's Pipe).
//
// Bun sets socket handlers at listen/connect time, so the pipe is an object those
// handlers call into; `pipeSocketHandlers` does that for sockets whose `data` holds
// `{ pipe }`:
//
//   Bun.listen({ hostname, port, allowHalfOpen: true, data: {} as PipeSocketData, socket: {
//     ...pipeSocketHandlers,
//     open(socket) { socket.setNoDelay(true); socket.data.pipe = pipeSocketToStream(socket, session.openStream(meta)); },
//   }});
//
// Use `allowHalfOpen: true` on the socket: without it Bun closes the socket as soon as
// the peer half-closes, and whatever the stream still had for it is lost (the pipe then
// resets the stream instead of ending it). The stream's FIN becomes socket.shutdown()
// (a TCP half-close); Bun's socket.end() would close both directions.
import { RstCode } from "../protocol/frames.ts";
import type { MuxError } from "./errors.ts";
import type { MuxStream } from "./stream.ts";

/** The part of a Bun TCP socket the pipe uses. */
export interface PipeSocket {
  /** Bytes written; fewer when the kernel buffer is full (the rest is NOT kept); -1 when closed. */
  write(data: Uint8Array): number;
  /** Half-close: FIN, reading continues. (Bun's end() closes both directions.) */
  shutdown(halfClose?: boolean): void;
  /** Graceful full close. */
  end(): void;
  pause(): void;
  resume(): void;
  terminate(): void;
}

export interface PipeResult {
  bytesFromSocket: number;
  bytesToSocket: number;
  /** Why the pipe ended early; undefined when both directions ended cleanly. */
  error?: Error;
}

export class SocketStreamPipe {
  /** Once, when both ends are closed. */
  onclose: ((result: PipeResult) => void) | null = null;
  bytesFromSocket = 0;
  bytesToSocket = 0;

  private socket: PipeSocket | null = null;
  /** Stream bytes the socket did not take yet (short writes), oldest first. */
  private pending: Uint8Array[] = [];
  private socketPaused = false;
  private socketReadEnded = false;
  private socketWriteEnded = false;
  private socketClosed = false;
  private streamEnded = false;
  private done = false;

  constructor(readonly stream: MuxStream) {
    stream.ondata = this.onStreamData;
    stream.onend = this.onStreamEnd;
    stream.ondrain = this.onStreamDrain;
    stream.onclose = this.onStreamClose;
  }

  get closed(): boolean {
    return this.done;
  }

  /** Connects the socket. Until then stream data is held (the stream is paused). */
  attach(socket: PipeSocket): this {
    if (this.socket !== null) throw new Error("pipe already has a socket");
    this.socket = socket;
    if (this.done) {
      socket.terminate();
      return this;
    }
    this.stream.resume();
    return this;
  }

  // ---- socket side (call from the Bun socket handlers) ------------------------------------------

  fromSocket(data: Uint8Array): void {
    if (this.done || this.socketReadEnded) return;
    this.bytesFromSocket += data.byteLength;
    if (!this.stream.write(data) && !this.socketPaused && !this.stream.closed) {
      this.socketPaused = true;
      this.socket?.pause();
    }
  }

  socketDrain(): void {
    if (this.done) return;
    this.flushPending();
  }

  /** The socket's peer half-closed: end the stream after what was already written. */
  socketEnd(): void {
    if (this.done || this.socketReadEnded) return;
    this.socketReadEnded = true;
    this.stream.end();
  }

  socketClose(err?: Error): void {
    if (this.socketClosed) return;
    this.socketClosed = true;
    if (this.done) return this.finish(undefined);
    if (err) return this.close(err);
    if (!this.socketReadEnded) this.socketEnd();
    // Closed before everything from the stream reached it: the stream cannot complete.
    if (!this.socketWriteEnded) return this.close(new Error("socket closed before the stream's data was delivered"));
    // Both directions of the socket are done; the stream finishes sending what it holds.
    if (this.stream.closed) this.finish(undefined);
  }

  socketError(err: Error): void {
    this.close(err);
  }

  /** Closes both ends now (abortive when `err` is given). Safe to call more than once. */
  close(err?: Error, rstCode: number = RstCode.CANCEL): void {
    if (this.done) return;
    this.done = true;
    // Bun may run the socket's close handler synchronously inside terminate()/end().
    this.closeError = err;
    this.pending = [];
    if (!this.stream.closed) {
      if (err) this.stream.reset(rstCode);
      else this.stream.end();
    }
    const socket = this.socket;
    if (socket !== null && !this.socketClosed) {
      this.socketWriteEnded = true;
      if (err) socket.terminate();
      else socket.end();
    }
    this.finish(err);
  }

  private finishedWith: PipeResult | null = null;
  private closeError: Error | undefined = undefined;

  private finish(err: Error | undefined): void {
    this.done = true;
    if (this.finishedWith !== null) return;
    this.finishedWith = { bytesFromSocket: this.bytesFromSocket, bytesToSocket: this.bytesToSocket, error: err ?? this.closeError };
    const cb = this.onclose;
    this.onclose = null;
    cb?.(this.finishedWith);
  }

  // ---- stream side --------------------------------------------------------------------------

  private readonly onStreamData = (bytes: Uint8Array): void => {
    const socket = this.socket;
    if (this.done || socket === null) return;
    if (this.pending.length > 0) {
      this.pending.push(bytes);
      this.stream.pause();
      return;
    }
    const n = socket.write(bytes);
    if (n < 0) return this.close(new Error("socket closed while writing"));
    this.bytesToSocket += n;
    if (n < bytes.byteLength) {
      this.pending.push(n === 0 ? bytes : bytes.subarray(n));
      this.stream.pause();
    }
  };

  private readonly onStreamEnd = (): void => {
    this.streamEnded = true;
    if (this.pending.length === 0) this.endSocketWrite();
  };

  private readonly onStreamDrain = (): void => {
    if (this.socketPaused && !this.done) {
      this.socketPaused = false;
      this.socket?.resume();
    }
  };

  private readonly onStreamClose = (err?: MuxError): void => {
    if (err) return this.close(err);
    // Both FINs exchanged. The socket may still be taking the last bytes.
    if (this.pending.length === 0) this.endSocketWrite();
    if (this.socketClosed) this.finish(undefined);
    else if (this.socketReadEnded && this.socketWriteEnded) this.closeSocketClean();
  };

  private flushPending(): void {
    const socket = this.socket;
    if (socket === null) return;
    while (this.pending.length > 0) {
      const c = this.pending[0]!;
      const n = socket.write(c);
      if (n < 0) return this.close(new Error("socket closed while writing"));
      this.bytesToSocket += n;
      if (n < c.byteLength) {
        this.pending[0] = c.subarray(n);
        return;
      }
      this.pending.shift();
    }
    if (this.streamEnded) this.endSocketWrite();
    else this.stream.resume();
  }

  private endSocketWrite(): void {
    if (this.socketWriteEnded || this.socket === null) return;
    this.socketWriteEnded = true;
    this.socket.shutdown();
    if (this.stream.closed && this.socketReadEnded) this.closeSocketClean();
  }

  /** Both directions ended cleanly: release the socket and report. */
  private closeSocketClean(): void {
    if (!this.socketClosed) this.socket?.end();
    this.finish(undefined);
  }
}

/** Pipes a connected socket and a stream together. */
export function pipeSocketToStream(socket: PipeSocket, stream: MuxStream): SocketStreamPipe {
  return new SocketStreamPipe(stream).attach(socket);
}

/**
 * A pipe whose socket comes later (a Bun.connect in progress): the stream is paused until
 * attach(socket). On a connect failure call `pipe.close(err, RstCode.CONNECT_FAILED)`.
 */
export function createSocketStreamPipe(stream: MuxStream): SocketStreamPipe {
  stream.pause();
  return new SocketStreamPipe(stream);
}

/** What `pipeSocketHandlers` expects in `socket.data`. */
export interface PipeSocketData {
  pipe?: SocketStreamPipe;
}

/** Socket handlers for Bun.listen / Bun.connect that forward to `socket.data.pipe`. */
export const pipeSocketHandlers = {
  data(socket: { data: PipeSocketData }, data: Uint8Array): void {
    socket.data.pipe?.fromSocket(data);
  },
  drain(socket: { data: PipeSocketData }): void {
    socket.data.pipe?.socketDrain();
  },
  end(socket: { data: PipeSocketData }): void {
    socket.data.pipe?.socketEnd();
  },
  close(socket: { data: PipeSocketData }, err?: Error): void {
    socket.data.pipe?.socketClose(err);
  },
  error(socket: { data: PipeSocketData }, err: Error): void {
    socket.data.pipe?.socketError(err);
  },
};
