import { afterAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { RstCode } from "../../../lib/protocol/index.ts";
import { createSocketStreamPipe, type MuxError, type PipeResult, pipeSocketHandlers, type PipeSocketData, pipeSocketToStream } from "../../../lib/mux/index.ts";
import { dec, enc, randomBytes, sessionPair, sha256, waitFor } from "./mux-helpers.ts";

const listeners: TCPSocketListener<unknown>[] = [];
afterAll(() => {
  for (const l of listeners) l.stop(true);
});

/** A TCP echo server that honours short writes and half-close. Optionally replies only after EOF with a byte count. */
function startUpstream(mode: "echo" | "count" = "echo") {
  type D = { pending: Uint8Array[]; ended: boolean; count: number };
  const flush = (s: Socket<D>) => {
    while (s.data.pending.length) {
      const c = s.data.pending[0]!;
      const n = s.write(c);
      if (n < c.byteLength) {
        s.data.pending[0] = c.subarray(Math.max(n, 0));
        return false;
      }
      s.data.pending.shift();
    }
    return true;
  };
  let live = 0;
  const l = Bun.listen<D>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(s) {
        live++;
        s.setNoDelay(true);
        s.data = { pending: [], ended: false, count: 0 };
      },
      close() {
        live--;
      },
      data(s, d) {
        s.data.count += d.byteLength;
        if (mode === "count") return;
        s.data.pending.push(d);
        if (!flush(s)) s.pause();
      },
      drain(s) {
        if (flush(s)) {
          if (s.data.ended) s.shutdown();
          else s.resume();
        }
      },
      end(s) {
        s.data.ended = true;
        if (mode === "count") s.data.pending.push(enc(`got ${s.data.count} bytes`));
        if (flush(s)) s.shutdown();
      },
    },
  });
  listeners.push(l as TCPSocketListener<unknown>);
  return Object.assign(l, {
    get live() {
      return live;
    },
  });
}

/**
 * The tunnel path in one process: a public listener (server side) opens a stream per
 * connection; the client side dials `upstreamPort` for each stream and pipes them.
 */
function startTunnel(upstreamPort: number, transport = {}) {
  const p = sessionPair({
    transport,
    client: {
      onStream(stream, meta) {
        const { port } = JSON.parse(dec(meta)) as { port: number };
        const pipe = createSocketStreamPipe(stream);
        pipe.onclose = (r) => clientPipes.push(r);
        void Bun.connect<PipeSocketData>({
          hostname: "127.0.0.1",
          port,
          allowHalfOpen: true,
          data: { pipe },
          socket: {
            ...pipeSocketHandlers,
            open(s) {
              s.setNoDelay(true);
              pipe.attach(s);
            },
            connectError(_s, err) {
              pipe.close(err, RstCode.CONNECT_FAILED);
            },
          },
        }).catch(() => {});
      },
    },
  });
  const clientPipes: PipeResult[] = [];
  const serverPipes: PipeResult[] = [];
  const streamErrors: (MuxError | undefined)[] = [];
  const pub = Bun.listen<PipeSocketData>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: {},
    socket: {
      ...pipeSocketHandlers,
      open(s) {
        s.setNoDelay(true);
        const stream = p.server.openStream(enc(JSON.stringify({ port: upstreamPort })));
        const pipe = pipeSocketToStream(s, stream);
        pipe.onclose = (r) => {
          serverPipes.push(r);
          streamErrors.push(r.error as MuxError | undefined);
        };
        s.data = { pipe };
      },
    },
  });
  listeners.push(pub as TCPSocketListener<unknown>);
  return { ...p, pub, clientPipes, serverPipes, streamErrors };
}

/** A public client: sends `data`, half-closes, collects the reply until the server closes. */
function publicClient(port: number, data: Uint8Array, opts: { endAfterSend?: boolean; chunk?: number } = {}) {
  const got: Uint8Array[] = [];
  let bytes = 0;
  let off = 0;
  let closedResolve!: (err?: Error) => void;
  const closed = new Promise<Error | undefined>((r) => (closedResolve = r));
  const chunk = opts.chunk ?? 256 * 1024;
  const pump = (s: Socket<undefined>) => {
    while (off < data.byteLength) {
      const piece = data.subarray(off, off + chunk);
      const n = s.write(piece);
      off += Math.max(n, 0);
      if (n < piece.byteLength) return;
    }
    if (opts.endAfterSend !== false) s.shutdown();
  };
  const socket = Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        s.setNoDelay(true);
        pump(s);
      },
      drain: pump,
      data(_s, d) {
        got.push(d);
        bytes += d.byteLength;
      },
      close(_s, err) {
        closedResolve(err);
      },
    },
  });
  return {
    socket,
    closed,
    get bytes() {
      return bytes;
    },
    all() {
      return Buffer.concat(got);
    },
  };
}

describe("socket ↔ stream pipe over real Bun sockets", () => {
  test("a TCP echo server through two sessions: 20 MB intact, everything closed once", async () => {
    const upstream = startUpstream("echo");
    const t = startTunnel(upstream.port);
    const data = randomBytes(20 * 1024 * 1024, 77);
    expect(upstream.live).toBe(0);
    const c = publicClient(t.pub.port, data);
    const err = await c.closed;
    expect(err).toBeUndefined();
    expect(c.bytes).toBe(data.byteLength);
    expect(sha256(c.all())).toBe(sha256(data));
    await waitFor(() => t.serverPipes.length === 1 && t.clientPipes.length === 1, "both pipes closed", 5000);
    expect(t.serverPipes[0]).toEqual({ bytesFromSocket: data.byteLength, bytesToSocket: data.byteLength, error: undefined });
    expect(t.clientPipes[0]).toEqual({ bytesFromSocket: data.byteLength, bytesToSocket: data.byteLength, error: undefined });
    await waitFor(() => t.client.streamCount === 0 && t.server.streamCount === 0, "streams removed");
    t.client.close();
  }, 30000);

  test("the same through a small-window, chunk-splitting, backpressured transport, 8 connections at once", async () => {
    const upstream = startUpstream("echo");
    const t = startTunnel(upstream.port, { highWaterMark: 64 * 1024, bytesPerTick: 128 * 1024, maxChunk: 3000, randomSeed: 5 });
    const clients = Array.from({ length: 8 }, (_, i) => {
      const data = randomBytes(1024 * 1024 + i * 1000, i + 100);
      return { data, c: publicClient(t.pub.port, data, { chunk: 10_000 + i }) };
    });
    for (const { data, c } of clients) {
      expect(await c.closed).toBeUndefined();
      expect(sha256(c.all())).toBe(sha256(data));
    }
    await waitFor(() => t.client.streamCount === 0 && t.server.streamCount === 0, "streams removed");
    t.client.close();
  }, 30000);

  test("half-close: the upstream answers only after EOF, and the answer still comes back", async () => {
    const upstream = startUpstream("count");
    const t = startTunnel(upstream.port);
    const c = publicClient(t.pub.port, enc("x".repeat(12345)));
    expect(await c.closed).toBeUndefined();
    expect(dec(c.all())).toBe("got 12345 bytes");
    await waitFor(() => t.client.streamCount === 0 && t.server.streamCount === 0, "streams removed");
    t.client.close();
  });

  test("an unreachable upstream resets the stream with CONNECT_FAILED and closes the public socket", async () => {
    const dead = startUpstream("echo");
    const deadPort = dead.port;
    dead.stop(true);
    const t = startTunnel(deadPort);
    const c = publicClient(t.pub.port, enc("hello"), { endAfterSend: false });
    await c.closed;
    await waitFor(() => t.serverPipes.length === 1, "server pipe closed");
    const err = t.streamErrors[0];
    expect(err?.code).toBe("RESET_BY_PEER");
    expect(err?.wireCode).toBe(RstCode.CONNECT_FAILED);
    expect(t.clientPipes[0]?.error).toBeDefined();
    await waitFor(() => t.client.streamCount === 0 && t.server.streamCount === 0, "streams removed");
    t.client.close();
  });

  test("a public client that vanishes mid-transfer resets the stream and closes the upstream socket", async () => {
    const upstream = startUpstream("echo");
    const t = startTunnel(upstream.port);
    const c = publicClient(t.pub.port, randomBytes(50 * 1024 * 1024), { endAfterSend: false });
    await waitFor(() => c.bytes > 1024 * 1024, "echo flowing");
    (await c.socket).terminate();
    await waitFor(() => t.clientPipes.length === 1 && t.serverPipes.length === 1, "pipes closed");
    expect(t.serverPipes[0]!.error).toBeDefined();
    expect(t.clientPipes[0]!.error).toBeDefined();
    await waitFor(() => t.client.streamCount === 0 && t.server.streamCount === 0, "streams removed");
    await waitFor(() => upstream.live === 0, "upstream connection closed");
    t.client.close();
  });

  test("closing the session closes every piped socket", async () => {
    const upstream = startUpstream("echo");
    const t = startTunnel(upstream.port);
    const clients = [0, 1, 2].map(() => publicClient(t.pub.port, enc("hi"), { endAfterSend: false }));
    await waitFor(() => clients.every((c) => c.bytes === 2), "echoes");
    t.server.close("bye");
    for (const c of clients) await c.closed;
    await waitFor(() => t.clientPipes.length === 3 && t.serverPipes.length === 3, "pipes closed");
    for (const r of [...t.clientPipes, ...t.serverPipes]) expect(r.error).toBeDefined();
  });
});
