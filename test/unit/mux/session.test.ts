import { describe, expect, test } from "bun:test";
import {
  dataFrame,
  encodeFrames,
  finFrame,
  FrameType,
  GoAwayCode,
  goAwayFrame,
  messageFrame,
  openFrame,
  pingFrame,
  PROTOCOL_INITIAL_WINDOW,
  RstCode,
  rstFrame,
  windowUpdateFrame,
  type Frame,
} from "../../../lib/protocol/index.ts";
import { createMuxSession, MuxError, type MuxClock, type MuxStream } from "../../../lib/mux/index.ts";
import { createMemoryTransportPair } from "../../../lib/mux/memory-transport.ts";
import { collect, dec, enc, randomBytes, rawPeer, sessionPair, sha256, waitFor, writeAll } from "./mux-helpers.ts";

/** Echo handler: every peer stream sends back what it receives, then ends. */
function echo(s: MuxStream) {
  s.ondata = (d) => {
    if (!s.write(d)) s.pause();
  };
  s.ondrain = () => s.resume();
  s.onend = () => s.end();
}

describe("streams and messages", () => {
  test("a stream is usable at once, meta reaches onStream, messages go both ways", async () => {
    const metas: string[] = [];
    const serverMessages: string[] = [];
    const clientMessages: string[] = [];
    const p = sessionPair({
      server: {
        onStream: (s, meta) => {
          metas.push(dec(meta));
          echo(s);
        },
        onMessage: (b) => serverMessages.push(dec(b)),
      },
      client: { onMessage: (b) => clientMessages.push(dec(b)) },
    });
    const s = p.client.openStream(enc('{"t":"tcp","p":22000}'));
    const c = collect(s);
    s.write(enc("hello "));
    s.write(enc("world"));
    s.end();
    p.client.sendMessage(enc('{"type":"hello"}'));
    p.server.sendMessage(enc('{"type":"welcome"}'));
    expect(await c.done).toBeUndefined();
    expect(c.text()).toBe("hello world");
    expect(c.ended).toBe(true);
    expect(metas).toEqual(['{"t":"tcp","p":22000}']);
    expect(serverMessages).toEqual(['{"type":"hello"}']);
    expect(clientMessages).toEqual(['{"type":"welcome"}']);
    await waitFor(() => p.client.streamCount === 0 && p.server.streamCount === 0, "streams removed");
    p.client.close();
  });

  test("client ids are odd, server ids even; both sides open at once without collision", async () => {
    const seenByServer: number[] = [];
    const seenByClient: number[] = [];
    const p = sessionPair({
      server: { onStream: (s) => (seenByServer.push(s.id), echo(s)) },
      client: { onStream: (s) => (seenByClient.push(s.id), echo(s)) },
    });
    const results: Promise<MuxError | undefined>[] = [];
    const texts: [ReturnType<typeof collect>, string][] = [];
    for (let i = 0; i < 20; i++) {
      for (const [side, sess] of [
        ["c", p.client],
        ["s", p.server],
      ] as const) {
        const s = sess.openStream();
        const c = collect(s);
        s.write(enc(`${side}${i}`));
        s.end();
        results.push(c.done);
        texts.push([c, `${side}${i}`]);
      }
    }
    await Promise.all(results);
    for (const [c, want] of texts) expect(c.text()).toBe(want);
    expect(seenByServer.every((id) => id % 2 === 1)).toBe(true);
    expect(seenByClient.every((id) => id % 2 === 0 && id > 0)).toBe(true);
    expect(new Set(seenByServer).size).toBe(20);
    await waitFor(() => p.client.streamCount === 0 && p.server.streamCount === 0, "streams removed");
  });

  test("many concurrent streams keep their bytes intact (sha256), over a chunk-splitting, backpressured transport", async () => {
    const p = sessionPair({
      server: { onStream: echo },
      transport: { highWaterMark: 96 * 1024, bytesPerTick: 256 * 1024, maxChunk: 5000, randomSeed: 42 },
    });
    const N = 64;
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const size = i === 0 ? 4 * 1024 * 1024 : (i * 7919) % 300_000;
      const data = randomBytes(size, i + 1);
      const s = p.client.openStream(enc(`#${i}`));
      const c = collect(s);
      jobs.push(
        (async () => {
          await writeAll(s, data, 1 + ((i * 977) % 70_000));
          expect(await c.done).toBeUndefined();
          expect(c.bytes).toBe(size);
          expect(sha256(c.all())).toBe(sha256(data));
        })(),
      );
    }
    await Promise.all(jobs);
    await waitFor(() => p.client.streamCount === 0 && p.server.streamCount === 0, "streams removed");
    p.client.close();
    expect((await p.serverClosed).code).toBe("GOAWAY");
  }, 60_000);

  test("data that arrives before ondata is set is held, then delivered", async () => {
    let serverStream!: MuxStream;
    const p = sessionPair({ server: { onStream: (s) => (serverStream = s) } });
    const s = p.client.openStream();
    s.write(enc("early"));
    s.end();
    await waitFor(() => serverStream?.readableLength === 5 && serverStream.remoteEnded, "data held");
    const c = collect(serverStream);
    await waitFor(() => c.ended, "delivered");
    expect(c.text()).toBe("early");
  });

  test("large writes are split into frames of at most maxFrameSize and batched into few sends", async () => {
    const peer = rawPeer({}, { side: "client", maxFrameSize: 16384 });
    const s = peer.session.openStream(enc("m"));
    expect(s.write(randomBytes(100_000))).toBe(true);
    await waitFor(() => peer.frames.filter((f) => f.type === FrameType.DATA).length === 7, "7 DATA frames");
    const data = peer.frames.filter((f): f is Extract<Frame, { type: 2 }> => f.type === FrameType.DATA);
    expect(data.map((f) => f.data.byteLength)).toEqual([16384, 16384, 16384, 16384, 16384, 16384, 1696]);
    expect(peer.frames[0]!.type).toBe(FrameType.OPEN);
    // OPEN and all 7 DATA frames went out in one transport send.
    expect(peer.session.bytesOut).toBeGreaterThan(100_000);
    expect((peer.session as unknown as { transport: { sends: number } }).transport.sends).toBe(1);
  });

  test("by default a stream alone sends 256 KiB frames, and 64 KiB ones while another stream waits", async () => {
    const peer = rawPeer({ highWaterMark: 1 }, { side: "client" });
    const dataSizes = () => peer.frames.filter((f): f is Extract<Frame, { type: 2 }> => f.type === FrameType.DATA).map((f) => f.data.byteLength);
    const a = peer.session.openStream(enc("a"));
    a.write(randomBytes(PROTOCOL_INITIAL_WINDOW));
    await waitFor(() => dataSizes().length === 1, "one frame");
    expect(dataSizes()).toEqual([PROTOCOL_INITIAL_WINDOW]);
    // A full batch leaves the transport backpressured (high-water mark 1 byte), so the next
    // two streams queue in the round robin, which cuts 64 KiB frames.
    const b = peer.session.openStream(enc("b"));
    b.write(randomBytes(300_000, 2));
    expect(peer.session.transportWritable).toBe(false);
    const c = peer.session.openStream(enc("c"));
    const d = peer.session.openStream(enc("d"));
    c.write(randomBytes(200_000, 3));
    d.write(randomBytes(200_000, 4));
    const sizesOf = (id: number) => peer.frames.filter((f): f is Extract<Frame, { type: 2 }> => f.type === FrameType.DATA && f.streamId === id).map((f) => f.data.byteLength);
    await waitFor(() => [...sizesOf(c.id), ...sizesOf(d.id)].reduce((n, x) => n + x, 0) >= 400_000, "both streams");
    expect(Math.max(...sizesOf(c.id), ...sizesOf(d.id))).toBe(64 * 1024);
  });

  test("WINDOW_UPDATEs are batched, not one per frame", async () => {
    const peer = rawPeer({}, { side: "client" });
    const s = peer.session.openStream();
    let windowUpdates = 0;
    let received = 0;
    // The raw side plays a well-behaved receiver that acks at half window.
    const total = 8 * 1024 * 1024;
    void writeAll(s, randomBytes(total), 65536, false);
    let acked = 0;
    await waitFor(() => {
      for (const f of peer.frames.splice(0)) if (f.type === FrameType.DATA) received += f.data.byteLength;
      if (received - acked >= PROTOCOL_INITIAL_WINDOW / 2) {
        peer.send(windowUpdateFrame(s.id, received - acked));
        windowUpdates++;
        acked = received;
      }
      return received === total;
    }, "all data", 10000, 1);
    // And the session side batches the other direction the same way.
    let serverSide!: ReturnType<typeof collect>;
    const p = sessionPair({ server: { onStream: (x) => (serverSide = collect(x)) } });
    const cs = p.client.openStream();
    await writeAll(cs, randomBytes(total), 65536);
    await waitFor(() => serverSide?.ended, "all received");
    expect(serverSide.bytes).toBe(total);
    const ws = (p.server as unknown as { bytesOut: number }).bytesOut;
    // 8 MiB at 128 KiB per update = 64 updates of 13 bytes (+ FIN).
    expect(ws).toBeLessThanOrEqual(64 * 13 + 9);
    expect(windowUpdates).toBeGreaterThan(0);
  });
});

describe("half-close, reset and flow control", () => {
  test("half-close client → server, then server keeps sending until its own end", async () => {
    let serverStream!: MuxStream;
    let serverGotEnd = false;
    const serverData: string[] = [];
    const p = sessionPair({
      server: {
        onStream: (s) => {
          serverStream = s;
          s.ondata = (d) => serverData.push(dec(d));
          s.onend = () => (serverGotEnd = true);
        },
      },
    });
    const s = p.client.openStream();
    const c = collect(s);
    s.write(enc("request"));
    s.end();
    expect(s.write(enc("late"))).toBe(false);
    await waitFor(() => serverGotEnd, "server end");
    expect(serverData.join("")).toBe("request");
    expect(serverStream.closed).toBe(false);
    for (let i = 0; i < 5; i++) serverStream.write(enc(`part${i};`));
    await waitFor(() => c.bytes === 30, "response");
    expect(c.ended).toBe(false);
    serverStream.end();
    expect(await c.done).toBeUndefined();
    expect(c.text()).toBe("part0;part1;part2;part3;part4;");
    await waitFor(() => serverStream.closed && p.server.streamCount === 0 && p.client.streamCount === 0, "closed");
  });

  test("half-close server → client first", async () => {
    const p = sessionPair({
      server: {
        onStream: (s) => {
          s.write(enc("banner"));
          s.end();
          s.ondata = (d) => s.write(d); // writes after end are dropped
        },
      },
    });
    const s = p.client.openStream();
    const c = collect(s);
    await waitFor(() => c.ended, "server end");
    expect(c.text()).toBe("banner");
    expect(s.write(enc("still open"))).toBe(true);
    s.end();
    expect(await c.done).toBeUndefined();
    await waitFor(() => p.server.streamCount === 0 && p.client.streamCount === 0, "closed");
  });

  test("reset: RESET locally, RESET_BY_PEER with the code remotely, both maps emptied", async () => {
    let remote!: ReturnType<typeof collect>;
    const p = sessionPair({ server: { onStream: (s) => (remote = collect(s)) } });
    const s = p.client.openStream();
    const local = collect(s);
    s.write(enc("x"));
    await waitFor(() => remote?.bytes === 1, "data");
    s.reset(RstCode.CONNECT_FAILED);
    expect(local.error?.code).toBe("RESET");
    expect(s.closed).toBe(true);
    expect(s.write(enc("y"))).toBe(false);
    const err = await remote.done;
    expect(err?.code).toBe("RESET_BY_PEER");
    expect(err?.wireCode).toBe(RstCode.CONNECT_FAILED);
    expect(err?.remote).toBe(true);
    expect(p.client.streamCount).toBe(0);
    expect(p.server.streamCount).toBe(0);
  });

  test("a paused slow reader never stalls a fast stream, and holds at most one window", async () => {
    let slow!: MuxStream;
    let fast!: ReturnType<typeof collect>;
    let maxHeld = 0;
    const p = sessionPair({
      server: {
        onStream: (s, meta) => {
          if (dec(meta) === "slow") {
            slow = s;
            s.pause();
            s.ondata = () => {};
          } else fast = collect(s);
        },
      },
      transport: { highWaterMark: 256 * 1024 },
    });
    const slowStream = p.client.openStream(enc("slow"));
    const fastStream = p.client.openStream(enc("fast"));
    const fastData = randomBytes(32 * 1024 * 1024, 9);
    let slowWritten = 0;
    const slowChunk = randomBytes(65536, 3);
    const pumpSlow = () => {
      while (slowWritten < 64 * 1024 * 1024 && slowStream.write(slowChunk)) slowWritten += slowChunk.byteLength;
    };
    slowStream.ondrain = pumpSlow;
    pumpSlow();
    const fastDone = writeAll(fastStream, fastData, 65536);
    const probe = setInterval(() => (maxHeld = Math.max(maxHeld, slow?.readableLength ?? 0)), 1);
    await fastDone;
    await waitFor(() => fast.ended, "fast stream complete", 10000);
    clearInterval(probe);
    expect(sha256(fast.all())).toBe(sha256(fastData));
    // The slow stream's receiver holds at most one window; its writer holds at most its high-water mark + one chunk.
    expect(slow.readableLength).toBeLessThanOrEqual(PROTOCOL_INITIAL_WINDOW);
    expect(maxHeld).toBeLessThanOrEqual(PROTOCOL_INITIAL_WINDOW);
    expect(slow.readableLength).toBeGreaterThan(0);
    expect(slowStream.writableLength).toBeLessThanOrEqual(256 * 1024 + 65536);
    expect(slowWritten).toBeLessThan(1024 * 1024);
    // Resuming lets the slow stream finish.
    let slowGot = 0;
    slow.ondata = (d) => (slowGot += d.byteLength);
    slow.resume();
    await waitFor(() => slowGot >= slowWritten && slowStream.writableLength === 0, "slow stream progresses", 10000, 5);
    slowStream.reset();
  });

  test("a larger initialWindow is announced with WINDOW_UPDATE and honoured", async () => {
    const window = 1024 * 1024;
    let slow!: MuxStream;
    const p = sessionPair({
      server: { initialWindow: window, onStream: (s) => ((slow = s), s.pause(), (s.ondata = () => {})) },
    });
    const s = p.client.openStream();
    const chunk = new Uint8Array(65536);
    const pump = () => {
      while (s.write(chunk));
    };
    s.ondrain = pump;
    pump();
    await waitFor(() => slow?.readableLength === window, "one full window held", 5000, 2);
    await Bun.sleep(20);
    expect(slow.readableLength).toBe(window);
    expect(s.sendWindow).toBe(0);
    expect(() => createMuxSession({ transport: createMemoryTransportPair()[0], side: "client", initialWindow: 1000 })).toThrow(RangeError);
  });

  test("running out of the peer's window with data queued is reported as a stall", async () => {
    let stalls = 0;
    let slow!: MuxStream;
    const p = sessionPair({
      client: { onWindowStall: () => stalls++ },
      server: { onStream: (s) => ((slow = s), s.pause(), (s.ondata = () => {})) },
    });
    const s = p.client.openStream();
    s.write(new Uint8Array(100_000));
    await waitFor(() => slow?.readableLength === 100_000, "a write within the window", 5000, 2);
    expect(stalls).toBe(0);
    s.write(new Uint8Array(400_000));
    await waitFor(() => s.sendWindow === 0, "the window used up", 5000, 2);
    expect(stalls).toBe(1);
    // Reading frees the window; the rest goes out (WINDOW_UPDATEs come in batches, so more stalls may count).
    slow.resume();
    await waitFor(() => s.writableLength === 0, "the rest sent after resume", 5000, 2);
    expect(stalls).toBeGreaterThanOrEqual(1);
  });

  test("write() past its false return is bounded: the stream is reset with BUFFER_OVERFLOW", async () => {
    let remote!: ReturnType<typeof collect>;
    const p = sessionPair({ server: { onStream: (s) => ((remote = collect(s)), s.pause()) } });
    const s = p.client.openStream();
    const local = collect(s);
    const chunk = new Uint8Array(65536);
    let falses = 0;
    for (let i = 0; i < 200 && !s.closed; i++) if (!s.write(chunk)) falses++;
    expect(falses).toBeGreaterThan(0);
    expect(s.closed).toBe(true);
    expect(local.error?.code).toBe("BUFFER_OVERFLOW");
    await waitFor(() => remote, "peer stream");
    const err = await remote.done;
    expect(err?.wireCode).toBe(RstCode.BUFFER_OVERFLOW);
  });

  test("fair queue: under transport backpressure a small stream is not starved by a bulk one", async () => {
    const got: { small: number; bulkAtSmall: number } = { small: -1, bulkAtSmall: -1 };
    let bulkReceived = 0;
    const p = sessionPair({
      server: {
        initialWindow: 64 * 1024 * 1024,
        onStream: (s, meta) => {
          if (dec(meta) === "bulk") s.ondata = (d) => (bulkReceived += d.byteLength);
          else s.ondata = () => ((got.small = 1), (got.bulkAtSmall = bulkReceived));
        },
      },
      transport: { highWaterMark: 64 * 1024, bytesPerTick: 64 * 1024 },
    });
    const bulk = p.client.openStream(enc("bulk"));
    const small = p.client.openStream(enc("small"));
    // The bulk stream queues 32 MiB (it has the credit) before the small one writes.
    const big = new Uint8Array(32 * 1024 * 1024);
    bulk.write(big);
    await waitFor(() => bulkReceived > 1024 * 1024, "bulk flowing");
    expect(p.client.transportWritable).toBe(false);
    const bulkBefore = bulkReceived;
    small.write(enc("ping"));
    await waitFor(() => got.small === 1, "small stream data");
    // At most a few hundred KiB of bulk (what the transport already held) went before it.
    expect(got.bulkAtSmall - bulkBefore).toBeLessThan(1024 * 1024);
    expect(bulkReceived).toBeLessThan(big.byteLength);
    bulk.reset();
    small.reset();
  });
});

describe("the close race and hostile peers", () => {
  test("both sides reset the same stream at once", async () => {
    let remote!: MuxStream;
    let remoteErr: MuxError | undefined;
    const p = sessionPair({ server: { onStream: (s) => ((remote = s), (s.onclose = (e) => (remoteErr = e))) } });
    const s = p.client.openStream();
    s.write(enc("x"));
    await waitFor(() => remote, "opened");
    let localErr: MuxError | undefined;
    s.onclose = (e) => (localErr = e);
    s.reset();
    remote.reset(RstCode.INTERNAL);
    expect(localErr?.code).toBe("RESET");
    expect(remoteErr?.code).toBe("RESET");
    await Bun.sleep(10);
    expect(p.client.closed || p.server.closed).toBe(false);
    expect(p.client.streamCount + p.server.streamCount).toBe(0);
  });

  test("both sides end at once, then both sides close cleanly", async () => {
    let remote!: ReturnType<typeof collect>;
    let remoteStream!: MuxStream;
    const p = sessionPair({ server: { onStream: (s) => ((remoteStream = s), (remote = collect(s))) } });
    const s = p.client.openStream();
    const local = collect(s);
    await waitFor(() => remoteStream, "opened");
    s.write(enc("a"));
    remoteStream.write(enc("b"));
    s.end();
    remoteStream.end();
    expect(await local.done).toBeUndefined();
    expect(await remote.done).toBeUndefined();
    expect(local.text()).toBe("b");
    expect(remote.text()).toBe("a");
    await waitFor(() => p.client.streamCount + p.server.streamCount === 0, "maps empty");
  });

  test("data in flight toward a stream that was just reset is dropped without a crash", async () => {
    let remote!: MuxStream;
    const p = sessionPair({ server: { onStream: (s) => ((remote = s), (s.ondata = () => {})) } });
    const s = p.client.openStream();
    s.write(enc("x"));
    await waitFor(() => remote, "opened");
    // The server resets while the client's data is already queued toward it.
    for (let i = 0; i < 10; i++) s.write(new Uint8Array(10000));
    remote.reset();
    await waitFor(() => s.closed, "client sees the reset");
    await Bun.sleep(10);
    expect(p.client.closed).toBe(false);
    expect(p.server.closed).toBe(false);
    expect(p.client.streamCount + p.server.streamCount).toBe(0);
  });

  test("late frames for a closed stream are ignored; frames for never-opened ids get RST", async () => {
    const peer = rawPeer({}, { side: "server", onStream: (s) => (s.ondata = () => {}) });
    peer.send(openFrame(1), dataFrame(1, enc("hi")), rstFrame(1, RstCode.CANCEL));
    await waitFor(() => peer.session.streamCount === 0 && peer.session.bytesIn > 0, "stream gone");
    peer.send(dataFrame(1, enc("late")), finFrame(1), windowUpdateFrame(1, 100), rstFrame(1));
    await Bun.sleep(10);
    expect(peer.frames.filter((f) => f.type === FrameType.RST)).toEqual([]);
    peer.send(dataFrame(99, enc("never opened")), dataFrame(4, enc("our parity, never opened")));
    await waitFor(() => peer.frames.filter((f) => f.type === FrameType.RST).length === 2, "RSTs");
    expect(peer.frames.filter((f) => f.type === FrameType.RST).map((f) => [f.streamId, (f as { code: number }).code])).toEqual([
      [99, RstCode.PROTOCOL_ERROR],
      [4, RstCode.PROTOCOL_ERROR],
    ]);
    expect(peer.session.closed).toBe(false);
  });

  test("OPEN for an existing id resets it; reused, wrong-parity and refused OPENs get RST", async () => {
    const closes: (string | undefined)[] = [];
    const peer = rawPeer({}, { side: "server", maxStreams: 2, onStream: (s) => (s.onclose = (e) => closes.push(e?.code)) });
    peer.send(openFrame(1), openFrame(1));
    await waitFor(() => closes.length === 1, "existing stream reset");
    expect(closes).toEqual(["PROTOCOL_ERROR"]);
    peer.send(openFrame(1)); // reuse of a closed id
    peer.send(openFrame(2)); // the server's parity
    peer.send(openFrame(3), openFrame(5), openFrame(7)); // 7 is over maxStreams
    await waitFor(() => peer.frames.filter((f) => f.type === FrameType.RST).length === 4, "RSTs");
    const rsts = peer.frames.filter((f) => f.type === FrameType.RST).map((f) => [f.streamId, (f as { code: number }).code]);
    expect(rsts).toEqual([
      [1, RstCode.PROTOCOL_ERROR],
      [1, RstCode.PROTOCOL_ERROR],
      [2, RstCode.PROTOCOL_ERROR],
      [7, RstCode.REFUSED],
    ]);
    expect(peer.session.streamCount).toBe(2);
    // A session without onStream refuses every stream.
    const bare = rawPeer({}, { side: "server" });
    bare.send(openFrame(1));
    await waitFor(() => bare.frames.some((f) => f.type === FrameType.RST && f.code === RstCode.REFUSED), "refused");
  });

  test("DATA beyond the window, DATA after FIN and credit overflow reset only that stream", async () => {
    const errors: Record<number, string | undefined> = {};
    const peer = rawPeer({}, { side: "server", onStream: (s) => (s.pause(), (s.ondata = () => {}), (s.onclose = (e) => (errors[s.id] = e?.code))) });
    peer.send(openFrame(1), dataFrame(1, new Uint8Array(PROTOCOL_INITIAL_WINDOW)));
    peer.send(openFrame(3), finFrame(3), dataFrame(3, enc("after fin")));
    peer.send(openFrame(5), windowUpdateFrame(5, 0xffff_ffff));
    peer.send(openFrame(9), dataFrame(9, enc("fine")));
    await Bun.sleep(10);
    expect(errors[1]).toBeUndefined();
    peer.send(dataFrame(1, enc("!")));
    await waitFor(() => errors[1] && errors[3] && errors[5], "three resets");
    expect(errors).toEqual({ 1: "FLOW_CONTROL", 3: "PROTOCOL_ERROR", 5: "FLOW_CONTROL" });
    const rst = (id: number) => peer.frames.find((f) => f.type === FrameType.RST && f.streamId === id) as { code: number } | undefined;
    expect(rst(1)?.code).toBe(RstCode.FLOW_CONTROL);
    expect(rst(3)?.code).toBe(RstCode.PROTOCOL_ERROR);
    expect(rst(5)?.code).toBe(RstCode.FLOW_CONTROL);
    expect(peer.session.stream(9)?.readableLength).toBe(4);
    expect(peer.session.closed).toBe(false);
  });

  test("garbage on the wire closes the session with GOAWAY(PROTOCOL_ERROR) and closes every stream", async () => {
    const closes: (string | undefined)[] = [];
    const peer = rawPeer({}, { side: "server", onStream: (s) => (s.onclose = (e) => closes.push(e?.code)) });
    peer.send(openFrame(1), openFrame(3));
    await waitFor(() => peer.session.streamCount === 2, "streams");
    peer.sendBytes(new Uint8Array([0xee, 0, 0, 0, 0, 0, 0, 0, 0]));
    await waitFor(() => peer.session.closed, "session closed");
    expect(peer.closeReason?.code).toBe("PROTOCOL_ERROR");
    expect(closes).toEqual(["SESSION_CLOSED", "SESSION_CLOSED"]);
    await waitFor(() => peer.closed, "transport closed");
    const g = peer.frames.find((f) => f.type === FrameType.GOAWAY) as { code: number; reason: string };
    expect(g.code).toBe(GoAwayCode.PROTOCOL_ERROR);
    expect(g.reason).toContain("unknown frame type");
  });

  test("an oversized MESSAGE or frame is a protocol error, a normal one passes", async () => {
    const msgs: number[] = [];
    const peer = rawPeer({}, { side: "server", maxMessageSize: 1000, onMessage: (b) => msgs.push(b.byteLength) });
    peer.send(messageFrame(new Uint8Array(1000)));
    await waitFor(() => msgs.length === 1, "message");
    peer.send(messageFrame(new Uint8Array(1001)));
    await waitFor(() => peer.session.closed, "closed");
    expect(peer.closeReason?.message).toContain("exceeds the limit");
  });

  test("PING is answered with PONG carrying the same bytes", async () => {
    const peer = rawPeer({}, { side: "server" });
    peer.send(pingFrame(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])));
    await waitFor(() => peer.frames.find((f) => f.type === FrameType.PONG), "pong");
    expect(Array.from((peer.frames.find((f) => f.type === FrameType.PONG) as { opaque: Uint8Array }).opaque)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("GOAWAY from the peer stops new streams; existing ones keep working", async () => {
    const peer = rawPeer({}, { side: "client" });
    const s = peer.session.openStream();
    const c = collect(s);
    peer.send(goAwayFrame(GoAwayCode.NORMAL, "restarting"));
    await waitFor(() => peer.session.goingAway, "going away");
    expect(() => peer.session.openStream()).toThrow(MuxError);
    peer.send(dataFrame(s.id, enc("still")), finFrame(s.id));
    await waitFor(() => c.ended, "data after goaway");
    expect(c.text()).toBe("still");
    peer.transport.close();
    await waitFor(() => peer.session.closed, "closed");
    expect(peer.closeReason?.code).toBe("GOAWAY");
    expect(peer.closeReason?.message).toContain("restarting");
  });

  test("handler errors are contained to their stream", async () => {
    const reported: string[] = [];
    const peer = rawPeer(
      {},
      {
        side: "server",
        onCallbackError: (_e, where) => reported.push(where),
        onStream: (s, meta) => {
          if (dec(meta) === "boom") throw new Error("boom");
          s.ondata = () => {
            throw new Error("data boom");
          };
        },
        onMessage: () => {
          throw new Error("message boom");
        },
      },
    );
    peer.send(openFrame(1, enc("boom")), openFrame(3, enc("ok")), dataFrame(3, enc("x")), messageFrame(enc("{}")));
    await waitFor(() => reported.length === 3, "errors reported");
    expect(reported).toEqual(["onStream", "ondata", "onMessage"]);
    const rsts = peer.frames.filter((f) => f.type === FrameType.RST).map((f) => [f.streamId, (f as { code: number }).code]);
    expect(rsts).toEqual([
      [1, RstCode.INTERNAL],
      [3, RstCode.INTERNAL],
    ]);
    expect(peer.session.closed).toBe(false);
    expect(peer.session.streamCount).toBe(0);
  });
});

describe("session teardown and keepalive", () => {
  test("close() sends GOAWAY and tears down every stream on both sides, even with data pending", async () => {
    const serverErrors: (string | undefined)[] = [];
    const p = sessionPair({
      server: { onStream: (s) => (s.pause(), (s.ondata = () => {}), (s.onclose = (e) => serverErrors.push(e?.code))) },
      transport: { highWaterMark: 16 * 1024, bytesPerTick: 16 * 1024 },
    });
    const clientErrors: (string | undefined)[] = [];
    for (let i = 0; i < 10; i++) {
      const s = p.client.openStream();
      s.onclose = (e) => clientErrors.push(e?.code);
      s.write(new Uint8Array(400_000));
    }
    await waitFor(() => p.server.streamCount === 10, "server streams");
    expect(p.client.stream(1)!.writableLength).toBeGreaterThan(0);
    p.client.close("shutting down");
    expect(p.client.closed).toBe(true);
    expect(p.client.streamCount).toBe(0);
    expect(clientErrors).toEqual(Array(10).fill("SESSION_CLOSED"));
    const reason = await p.serverClosed;
    expect(reason.code).toBe("GOAWAY");
    expect(reason.message).toContain("shutting down");
    expect((await p.clientClosed).code).toBe("CLOSED");
    expect(serverErrors).toEqual(Array(10).fill("SESSION_CLOSED"));
    expect(p.server.streamCount).toBe(0);
    expect(() => p.client.openStream()).toThrow(MuxError);
    expect(() => p.client.sendMessage(enc("x"))).toThrow(MuxError);
  });

  test("a dropped connection closes the session and its streams with TRANSPORT_CLOSED", async () => {
    let remote!: ReturnType<typeof collect>;
    const p = sessionPair({ server: { onStream: (s) => (remote = collect(s)) } });
    const local = collect(p.client.openStream());
    p.client.stream(1)!.write(enc("x"));
    await waitFor(() => remote, "opened");
    p.ct.abort();
    expect((await p.clientClosed).code).toBe("TRANSPORT_CLOSED");
    expect((await p.serverClosed).code).toBe("TRANSPORT_CLOSED");
    expect((await local.done)?.code).toBe("SESSION_CLOSED");
    expect((await remote.done)?.code).toBe("SESSION_CLOSED");
  });

  test("both sides closing at once: each reports its own close, nothing throws", async () => {
    const p = sessionPair({ server: { onStream: (s) => collect(s) } });
    const streams = [p.client.openStream(), p.client.openStream()];
    for (const s of streams) s.write(enc("x"));
    await waitFor(() => p.server.streamCount === 2, "opened");
    p.client.close("a");
    p.server.close("b");
    expect((await p.clientClosed).code).toBe("CLOSED");
    expect((await p.serverClosed).code).toBe("CLOSED");
    expect(p.client.streamCount + p.server.streamCount).toBe(0);
  });

  test("a frame cut short by the connection closing ends the session cleanly", async () => {
    const closes: (string | undefined)[] = [];
    const peer = rawPeer({}, { side: "server", onStream: (s) => (s.onclose = (e) => closes.push(e?.code)) });
    const wire = encodeFrames([openFrame(1), dataFrame(1, new Uint8Array(1000))]);
    peer.sendBytes(wire.subarray(0, wire.byteLength - 10));
    await waitFor(() => peer.session.streamCount === 1, "opened");
    peer.transport.close();
    await waitFor(() => peer.session.closed, "closed");
    expect(peer.closeReason?.code).toBe("TRANSPORT_CLOSED");
    expect(closes).toEqual(["SESSION_CLOSED"]);
  });

  test("keepalive detects a silent peer on both sides (short intervals)", async () => {
    const p = sessionPair({
      client: { keepalive: { intervalMs: 20, timeoutMs: 150 } },
      server: { keepalive: { intervalMs: 20, timeoutMs: 150 }, onStream: (s) => collect(s) },
    });
    const c = collect(p.client.openStream());
    // Alive while pings flow.
    await Bun.sleep(300);
    expect(p.client.closed || p.server.closed).toBe(false);
    expect(p.client.rttMs).toBeGreaterThanOrEqual(0);
    const t0 = performance.now();
    p.ct.partition();
    const [a, b] = await Promise.all([p.clientClosed, p.serverClosed]);
    const took = performance.now() - t0;
    expect(a.code).toBe("KEEPALIVE_TIMEOUT");
    expect(b.code).toBe("KEEPALIVE_TIMEOUT");
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(3000);
    expect((await c.done)?.code).toBe("SESSION_CLOSED");
  });

  test("keepalive with an injected clock: pings every interval, dead after the timeout", async () => {
    let now = 0;
    const timers: { at: number; fn: () => void; id: number }[] = [];
    let nextId = 1;
    const clock: MuxClock = {
      now: () => now,
      setTimeout: (fn, ms) => {
        const t = { at: now + ms, fn, id: nextId++ };
        timers.push(t);
        return t.id;
      },
      clearTimeout: (h) => {
        const i = timers.findIndex((t) => t.id === h);
        if (i >= 0) timers.splice(i, 1);
      },
    };
    const advance = async (ms: number) => {
      const end = now + ms;
      for (;;) {
        timers.sort((x, y) => x.at - y.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.fn();
      }
      now = end;
      await Bun.sleep(1); // let the memory transport deliver
    };
    const peer = rawPeer({}, { side: "client", clock, keepalive: { intervalMs: 10_000, timeoutMs: 30_000 } });
    await advance(9_999);
    expect(peer.frames.filter((f) => f.type === FrameType.PING).length).toBe(0);
    await advance(1);
    expect(peer.frames.filter((f) => f.type === FrameType.PING).length).toBe(1);
    // The peer answers once at t=15 s, then goes silent.
    await advance(5_000);
    peer.send(pingFrame(new Uint8Array(8)));
    await Bun.sleep(1);
    await advance(29_000); // t = 44 s: 29 s of silence
    expect(peer.session.closed).toBe(false);
    await advance(1_000); // 30 s of silence
    expect(peer.session.closed).toBe(true);
    expect(peer.closeReason?.code).toBe("KEEPALIVE_TIMEOUT");
    expect(peer.frames.filter((f) => f.type === FrameType.PING).length).toBe(4);
    expect(timers.length).toBe(0);
  });
});
