// Helpers for the mux tests: session pairs over in-memory transports, a raw peer that
// speaks frames by hand, and promise-based stream collectors.
import { createHash } from "node:crypto";
import { decodeFrames, encodeFrames, type Frame, FrameDecoder, toFrame } from "../../../lib/protocol/index.ts";
import { createMemoryTransportPair, type MemoryTransport, type MemoryTransportOptions } from "../../../lib/mux/memory-transport.ts";
import {
  createMuxSession,
  type MuxError,
  type MuxSession,
  type MuxSessionOptions,
  type MuxStream,
} from "../../../lib/mux/index.ts";

/** Polls `check` until truthy or the deadline passes (no fixed sleeps for readiness). */
export async function waitFor<T>(check: () => T, what: string, timeoutMs = 4000, everyMs = 2): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(everyMs);
  }
}

type Extra = Partial<Omit<MuxSessionOptions, "transport" | "side">>;

export interface Pair {
  client: MuxSession;
  server: MuxSession;
  ct: MemoryTransport;
  st: MemoryTransport;
  clientClosed: Promise<MuxError>;
  serverClosed: Promise<MuxError>;
}

export function sessionPair(opts: { client?: Extra; server?: Extra; transport?: MemoryTransportOptions } = {}): Pair {
  const [ct, st] = createMemoryTransportPair(opts.transport ?? {});
  let rc!: (e: MuxError) => void;
  let rs!: (e: MuxError) => void;
  const clientClosed = new Promise<MuxError>((r) => (rc = r));
  const serverClosed = new Promise<MuxError>((r) => (rs = r));
  const client = createMuxSession({ keepalive: false, ...opts.client, transport: ct, side: "client", onClose: (e) => (opts.client?.onClose?.(e), rc(e)) });
  const server = createMuxSession({ keepalive: false, ...opts.server, transport: st, side: "server", onClose: (e) => (opts.server?.onClose?.(e), rs(e)) });
  return { client, server, ct, st, clientClosed, serverClosed };
}

/** A peer that reads and writes raw frames on the other end of a session. */
export function rawPeer(transportOpts: MemoryTransportOptions = {}, sessionOpts: Extra & { side?: "client" | "server" } = {}) {
  const [mine, theirs] = createMemoryTransportPair(transportOpts);
  const frames: Frame[] = [];
  let closed: { code: number; reason: string } | null = null;
  const decoder = new FrameDecoder((t, s, p) => frames.push(toFrame(t, s, p.slice())), { maxMessagePayload: 1 << 20 });
  mine.bind({ data: (c) => decoder.push(c), drain: () => {}, close: (code, reason) => (closed = { code, reason }) });
  let closeReason: MuxError | undefined;
  const session = createMuxSession({
    keepalive: false,
    ...sessionOpts,
    side: sessionOpts.side ?? "server",
    transport: theirs,
    onClose: (e) => {
      closeReason = e;
      sessionOpts.onClose?.(e);
    },
  });
  return {
    session,
    transport: mine,
    frames,
    send: (...f: Frame[]) => mine.send(encodeFrames(f)),
    sendBytes: (b: Uint8Array) => mine.send(b),
    get closed() {
      return closed;
    },
    get closeReason() {
      return closeReason;
    },
  };
}

export function randomBytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function sha256(...parts: Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

export interface Collected {
  chunks: Uint8Array[];
  bytes: number;
  ended: boolean;
  closed: boolean;
  error: MuxError | undefined;
  text(): string;
  all(): Uint8Array;
  done: Promise<MuxError | undefined>;
}

/** Records everything a stream delivers. Does not touch the write side. */
export function collect(s: MuxStream): Collected {
  let resolve!: (e: MuxError | undefined) => void;
  const c: Collected = {
    chunks: [],
    bytes: 0,
    ended: false,
    closed: false,
    error: undefined,
    text: () => new TextDecoder().decode(c.all()),
    all: () => {
      const out = new Uint8Array(c.bytes);
      let o = 0;
      for (const ch of c.chunks) {
        out.set(ch, o);
        o += ch.byteLength;
      }
      return out;
    },
    done: new Promise((r) => (resolve = r)),
  };
  s.ondata = (d) => {
    c.chunks.push(d.slice());
    c.bytes += d.byteLength;
  };
  s.onend = () => (c.ended = true);
  s.onclose = (err) => {
    c.closed = true;
    c.error = err;
    resolve(err);
  };
  return c;
}

/** Writes all of `data` in `chunk`-sized pieces respecting backpressure; optionally ends. */
export function writeAll(s: MuxStream, data: Uint8Array, chunk = 64 * 1024, end = true): Promise<void> {
  return new Promise((resolve) => {
    let off = 0;
    const pump = () => {
      while (off < data.byteLength) {
        const piece = data.subarray(off, off + chunk);
        off += piece.byteLength;
        if (!s.write(piece)) return;
      }
      s.ondrain = null;
      if (end) s.end();
      resolve();
    };
    s.ondrain = pump;
    pump();
  });
}

export const enc = (s: string) => new TextEncoder().encode(s);
export const dec = (b: Uint8Array) => new TextDecoder().decode(b);
export { decodeFrames };
