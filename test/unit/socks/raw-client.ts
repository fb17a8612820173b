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
  /** Bytes received since the connection opened (read or not). */
  readonly received: number;
}

/** `tls: true` accepts any certificate; an object is passed to Bun.connect (e.g. `{ ca, serverName }`) to verify. */
export async function connectRaw(port: number, opts: { tls?: boolean | { ca?: string; serverName?: string } } = {}): Promise<RawClient> {
  // Received chunks, joined only when read: a copy per chunk would make a 48 MiB read
  // quadratic (gigabytes of memcpy, seconds on a loaded machine).
  const chunks: Uint8Array[] = [];
  let bufLen = 0;
  let received = 0;
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = chunks[0]!;
      const k = Math.min(head.length, n - at);
      out.set(head.subarray(0, k), at);
      at += k;
      if (k === head.length) chunks.shift();
      else chunks[0] = head.subarray(k);
    }
    bufLen -= n;
    return out;
  };
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
        chunks.push(chunk);
        bufLen += chunk.length;
        received += chunk.length;
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
      if (left <= 0) throw new Error(`timed out waiting for ${what} (have ${bufLen} bytes)`);
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
      await waitFor(() => bufLen >= n || isClosed, `${n} bytes`, timeoutMs);
      if (bufLen < n) throw new Error(`connection closed after ${bufLen} of ${n} bytes`);
      return take(n);
    },
    async readToClose(timeoutMs = 5000) {
      await waitFor(() => isClosed, "close", timeoutMs);
      return take(bufLen);
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
      return bufLen;
    },
    get received() {
      return received;
    },
  };
}
