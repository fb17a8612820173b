import { afterAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { type BunSocketConnection, bunSocketHandlers } from "../../../lib/net/connection.ts";
import { dialTcp } from "../../../lib/net/dial-tcp.ts";
import { pipe, type PipeOptions, type PipeResult } from "../../../lib/net/pipe.ts";
import type { MuxError } from "../../../lib/mux/index.ts";
import { RstCode } from "../../../lib/protocol/index.ts";
import { dec, enc, randomBytes, sessionPair, sha256, waitFor } from "../mux/mux-helpers.ts";
import { FakeConnection } from "../socks/fake-connection.ts";
import { flushPending } from "./flush-pending.ts";

const t = (s: string) => new TextEncoder().encode(s);

describe("pipe", () => {
  test("carries data both ways and counts it", async () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    const done = pipe(a, b);
    expect(a.paused).toBe(false);
    expect(b.paused).toBe(false);
    a.ondata!(t("hello"));
    b.ondata!(t("hi"));
    expect(b.bytes()).toEqual(t("hello"));
    expect(a.bytes()).toEqual(t("hi"));
    a.onclose!();
    b.onclose!();
    expect(await done).toEqual({ bytesAtoB: 5, bytesBtoA: 2 });
  });

  test("backpressure: a full destination pauses the source until it drains", () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    void pipe(a, b);
    b.accept = false;
    a.ondata!(t("x"));
    expect(a.paused).toBe(true);
    b.accept = true;
    b.ondrain!();
    expect(a.paused).toBe(false);
  });

  test("half-close is passed on, without closing the other direction", () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    void pipe(a, b);
    a.onend!();
    expect(b.ended).toBe(true);
    expect(a.ended).toBe(false);
    b.ondata!(t("still flowing"));
    expect(a.bytes()).toEqual(t("still flowing"));
  });

  test("an abrupt close resets the other side at once", async () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    const done = pipe(a, b);
    a.onclose!(new Error("ECONNRESET"));
    expect(b.resets).toBe(1);
    b.onclose!();
    expect((await done).error?.message).toBe("ECONNRESET");
  });

  test("after a clean close the other side gets end(), then a reset if it lingers", async () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    const done = pipe(a, b, { lingerMs: 30 });
    a.onclose!();
    expect(b.ended).toBe(true);
    expect(b.resets).toBe(0);
    const deadline = Date.now() + 2000;
    while (b.resets === 0 && Date.now() < deadline) await Bun.sleep(5);
    expect(b.resets).toBe(1);
    b.onclose!();
    await done;
  });

  test("bytes already in hand go first; the side behind them waits for drain", () => {
    const a = new FakeConnection();
    const b = new FakeConnection();
    b.accept = false;
    void pipe(a, b, { initialAtoB: t("early"), initialBtoA: t("banner") });
    expect(b.bytes()).toEqual(t("early"));
    expect(a.bytes()).toEqual(t("banner"));
    expect(a.paused).toBe(true); // b did not take "early" yet
    expect(b.paused).toBe(false); // a took "banner"
    b.ondrain!();
    expect(a.paused).toBe(false);
  });
});

// ---- real Bun sockets joined to mux streams, as the tunnel engines do ----------------------------

const listeners: TCPSocketListener<unknown>[] = [];
afterAll(() => {
  for (const l of listeners) l.stop(true);
});

/** A TCP echo server that honours short writes and half-close. Optionally replies only after EOF with a byte count. */
function startUpstream(mode: "echo" | "count" = "echo") {
  type D = { pending: Uint8Array[]; ended: boolean; count: number };
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
        if (!flushPending(s)) s.pause();
      },
      drain(s) {
        if (flushPending(s)) {
          if (s.data.ended) s.shutdown();
          else s.resume();
        }
      },
      end(s) {
        s.data.ended = true;
        if (mode === "count") s.data.pending.push(enc(`got ${s.data.count} bytes`));
        if (flushPending(s)) s.shutdown();
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
 * connection and pipes it; the client side dials `upstreamPort` for each stream and
 * pipes the two, like the tunnel client (a failed dial resets the stream).
 */
function startTunnel(upstreamPort: number, transport = {}, pipeOpts: PipeOptions = {}) {
  const clientPipes: PipeResult[] = [];
  const serverPipes: PipeResult[] = [];
  const p = sessionPair({
    transport,
    client: {
      onStream(stream, meta) {
        const { port } = JSON.parse(dec(meta)) as { port: number };
        stream.pause();
        void dialTcp("127.0.0.1", port).then((r) => {
          if (!r.ok) return stream.reset(RstCode.CONNECT_FAILED);
          void pipe(stream, r.connection, pipeOpts).then((result) => clientPipes.push(result));
        });
      },
    },
  });
  const pub = Bun.listen<{ connection?: BunSocketConnection }>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: {},
    socket: bunSocketHandlers((connection, socket) => {
      socket.setNoDelay(true);
      const stream = p.server.openStream(enc(JSON.stringify({ port: upstreamPort })));
      void pipe(connection, stream, pipeOpts).then((result) => serverPipes.push(result));
    }),
  });
  listeners.push(pub as TCPSocketListener<unknown>);
  return { ...p, pub, clientPipes, serverPipes };
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

describe("pipe between Bun sockets and mux streams", () => {
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
    expect(t.serverPipes[0]).toEqual({ bytesAtoB: data.byteLength, bytesBtoA: data.byteLength });
    expect(t.clientPipes[0]).toEqual({ bytesAtoB: data.byteLength, bytesBtoA: data.byteLength });
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

  test("an unreachable upstream: the stream reset reaches the public socket, which is closed", async () => {
    const dead = startUpstream("echo");
    const deadPort = dead.port;
    dead.stop(true);
    const t = startTunnel(deadPort);
    const c = publicClient(t.pub.port, enc("hello"), { endAfterSend: false });
    await c.closed;
    await waitFor(() => t.serverPipes.length === 1, "server pipe closed");
    const err = t.serverPipes[0]!.error as MuxError | undefined;
    expect(err?.code).toBe("RESET_BY_PEER");
    expect(err?.wireCode).toBe(RstCode.CONNECT_FAILED);
    await waitFor(() => t.client.streamCount === 0 && t.server.streamCount === 0, "streams removed");
    t.client.close();
  });

  test("a public client that vanishes mid-transfer resets the stream and closes the upstream socket", async () => {
    const upstream = startUpstream("echo");
    // The vanishing socket closes abruptly (RST) when it had unread bytes and cleanly
    // (FIN) otherwise; after a clean close the pipe ends the stream and resets it when
    // the linger time is up, since the echo can no longer be delivered.
    const t = startTunnel(upstream.port, {}, { lingerMs: 200 });
    const c = publicClient(t.pub.port, randomBytes(50 * 1024 * 1024), { endAfterSend: false });
    console.log("start");
    await waitFor(() => c.bytes > 1024 * 1024, "echo flowing");
    console.log("flowing");
    const T0 = performance.now();
    (await c.socket).terminate();
    const iv = setInterval(() => console.log("STATE", performance.now() - T0, t.serverPipes.length, t.clientPipes.length, t.server.streamCount, t.client.streamCount, upstream.live), 500);
    await waitFor(() => t.clientPipes.length === 1 && t.serverPipes.length === 1, "pipes closed", 15000);
    clearInterval(iv); console.log("PIPES", performance.now() - T0, t.serverPipes.map((r) => [r.bytesAtoB, r.bytesBtoA, String(r.error)]), t.clientPipes.map((r) => [r.bytesAtoB, r.bytesBtoA, String(r.error)]));
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
