// A deliberately dumb TCP/TLS client for the SOCKS listener tests: raw bytes in, raw
// bytes out, no SOCKS knowledge, so the tests spell the protocol out by hand.
import type { Socket } from "bun";

export interface RawClient {
  socket: Socket<undefined>;
  /** Resolves with exactly n bytes, or rejects when the connection closes first or time runs out. */
  read(n: number, timeoutMs?: number): Promise<Uint8Array>;
  /** Everything until the peer closes. */
  readToClose(timeoutMs?: number): Promise<Uint8Array>;
  /** Writes all bytes, waiting for drain as needed. */
  write(bytes: Uint8Array | string): Promise<void>;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
  readonly isClosed: boolean;
  /** Bytes received and not yet read. */
  readonly buffered: number;
}

/** `tls: true` accepts any certificate; an object is passed to Bun.connect (e.g. `{ ca, serverName }`) to verify. */
export async function connectRaw(port: number, opts: { tls?: boolean | { ca?: string; serverName?: string } } = {}): Promise<RawClient> {
  let buf = new Uint8Array(0);
  let isClosed = false;
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((r) => (markClosed = r));
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    ...(opts.tls ? { tls: opts.tls === true ? { rejectUnauthorized: false } : opts.tls } : {}),
    socket: {
      binaryType: "uint8array",
      data(_s, chunk: Uint8Array) {
        const next = new Uint8Array(buf.length + chunk.length);
        next.set(buf);
        next.set(chunk, buf.length);
        buf = next;
        poke();
      },
      drain() {
        const d = drained;
        drained = undefined;
        d?.();
      },
      end(s) {
        // The peer finished sending; close our side too so `closed` settles.
        s.end();
      },
      close() {
        isClosed = true;
        markClosed();
        poke();
        drained?.();
      },
    },
  });

  const waitFor = async (ready: () => boolean, what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (have ${buf.length} bytes)`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  };

  return {
    socket: socket as Socket<undefined>,
    async read(n, timeoutMs = 5000) {
      await waitFor(() => buf.length >= n || isClosed, `${n} bytes`, timeoutMs);
      if (buf.length < n) throw new Error(`connection closed after ${buf.length} of ${n} bytes`);
      const out = buf.slice(0, n);
      buf = buf.slice(n);
      return out;
    },
    async readToClose(timeoutMs = 5000) {
      await waitFor(() => isClosed, "close", timeoutMs);
      const out = buf;
      buf = new Uint8Array(0);
      return out;
    },
    async write(data) {
      let bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      while (bytes.length > 0) {
        if (isClosed) throw new Error("write on a closed connection");
        const n = socket.write(bytes);
        if (n < 0) throw new Error("write on a closed connection");
        bytes = bytes.subarray(n);
        if (bytes.length > 0) await new Promise<void>((r) => (drained = r));
      }
    },
    closed,
    get isClosed() {
      return isClosed;
    },
    get buffered() {
      return buf.length;
    },
  };
}
