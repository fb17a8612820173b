import { afterAll, describe, expect, test } from "bun:test";
import { type MuxStream } from "../../../lib/mux/index.ts";
import { createMemoryTransportPair } from "../../../lib/mux/memory-transport.ts";
import { collect, enc, randomBytes, sha256, waitFor, writeAll } from "./mux-helpers.ts";
import { makeSelfSignedCert, type SelfSignedCert, type WsPair, wsSessionPair } from "./ws-harness.ts";

const pairs: WsPair[] = [];
afterAll(() => {
  for (const p of pairs) p.stop();
});

function echo(s: MuxStream) {
  s.ondata = (d) => {
    if (!s.write(d)) s.pause();
  };
  s.ondrain = () => s.resume();
  s.onend = () => s.end();
}

describe("in-memory transport pair", () => {
  test("delivers in order on a later turn, re-splits chunks, reports backpressure and drain, closes after data", async () => {
    const [a, b] = createMemoryTransportPair({ highWaterMark: 9, maxChunk: 3 });
    const got: number[][] = [];
    const events: string[] = [];
    // Data sent before bind is replayed at bind.
    expect(a.send(new Uint8Array([1, 2]))).toBe(true);
    await Bun.sleep(1);
    b.bind({ data: (c) => void got.push(Array.from(c)), drain: () => events.push("b drain"), close: (code) => events.push(`b close ${code}`) });
    a.bind({ data: () => {}, drain: () => events.push("a drain"), close: (code) => events.push(`a close ${code}`) });
    const buf = new Uint8Array([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(a.send(buf)).toBe(false); // 9 bytes queued: at the mark
    buf.fill(0); // the transport copied
    expect(got).toEqual([[1, 2]]);
    a.close(4000, "done");
    expect(a.send(new Uint8Array([99]))).toBe(false);
    await waitFor(() => events.includes("b close 4000"), "close");
    expect(got).toEqual([[1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]);
    expect(events).toContain("a close 4000");
    expect(a.closed && b.closed).toBe(true);
  });

  test("partition drops everything silently; abort closes both ends at once", async () => {
    const [a, b] = createMemoryTransportPair();
    const got: number[] = [];
    let closes = 0;
    b.bind({ data: (c) => void got.push(c.byteLength), drain: () => {}, close: () => closes++ });
    a.bind({ data: () => {}, drain: () => {}, close: () => closes++ });
    a.partition();
    a.send(new Uint8Array(5));
    await Bun.sleep(5);
    expect(got).toEqual([]);
    a.abort();
    expect(closes).toBe(2);
  });
});

describe("WebSocket transports (Bun.serve + client WebSocket on 127.0.0.1)", () => {
  let cert: SelfSignedCert | undefined;
  const haveOpenssl = Bun.which("openssl") !== null;

  for (const tls of [false, true]) {
    test.skipIf(tls && !haveOpenssl)(`${tls ? "wss" : "ws"}: 16 echo streams and 48 MiB each way with backpressure, intact`, async () => {
      if (tls) cert ??= makeSelfSignedCert();
      const downs = new Map<string, ReturnType<typeof collect>>();
      const ups: ReturnType<typeof collect>[] = [];
      const p = await wsSessionPair({
        tls: tls ? cert : undefined,
        // Large windows so the transports, not the stream credit, are the bottleneck.
        server: { initialWindow: 16 * 1024 * 1024, onStream: (s, meta) => (new TextDecoder().decode(meta) === "up" ? ups.push(collect(s)) : echo(s)) },
        client: { initialWindow: 16 * 1024 * 1024, onStream: (s, meta) => downs.set(new TextDecoder().decode(meta), collect(s)) },
      });
      pairs.push(p);
      // Upload through many streams at once.
      const jobs = Array.from({ length: 16 }, async (_, i) => {
        const data = randomBytes(256 * 1024 + i * 4099, i + 1);
        const s = p.client.openStream(enc(String(i)));
        const c = collect(s);
        await writeAll(s, data, 16 * 1024 + i);
        expect(await c.done).toBeUndefined();
        expect(sha256(c.all())).toBe(sha256(data));
      });
      await Promise.all(jobs);
      // Server → client bulk: the server's ws.send must hit backpressure and resume on drain.
      const down = randomBytes(48 * 1024 * 1024, 99);
      const sDown = p.server.openStream(enc("down"));
      let maxBuffered = 0;
      const probe = setInterval(() => (maxBuffered = Math.max(maxBuffered, p.clientWs.bufferedAmount)), 1);
      // Client → server bulk at the same time.
      const up = randomBytes(48 * 1024 * 1024, 98);
      const sUp = p.client.openStream(enc("up"));
      await Promise.all([writeAll(sDown, down, 64 * 1024), writeAll(sUp, up, 64 * 1024)]);
      const got = await waitFor(() => downs.get("down"), "down stream");
      await waitFor(() => got.ended, "download complete", 20000);
      p.client.stream(sDown.id)?.end();
      const upGot = ups[0]!;
      await waitFor(() => upGot.ended, "upload complete", 20000);
      p.server.stream(sUp.id)?.end();
      clearInterval(probe);
      expect(sha256(got.all())).toBe(sha256(down));
      expect(sha256(upGot.all())).toBe(sha256(up));
      expect(p.serverBackpressure()).toBeGreaterThan(0);
      // The client transport's own buffer stays near its high-water mark (4 MiB) plus one batch.
      expect(maxBuffered).toBeLessThan(8 * 1024 * 1024);
      await waitFor(() => p.client.streamCount === 0 && p.server.streamCount === 0, "streams removed");
    }, 60000);
  }

  test("messages are freed on both ends once a copying consumer took them, bytes intact", async () => {
    /** A consumer that copies what it gets (as pipe into a socket does) and notes the buffers behind it. */
    const copying = (s: MuxStream, buffers: Set<ArrayBufferLike>, copies: Uint8Array[]) => {
      s.ondataCopies = true;
      s.ondata = (b) => {
        buffers.add(b.buffer);
        copies.push(new Uint8Array(b)); // a copy: on a Buffer, slice() would be a view
      };
    };
    const atServer = new Set<ArrayBufferLike>();
    const atClient = new Set<ArrayBufferLike>();
    const upCopies: Uint8Array[] = [];
    const downCopies: Uint8Array[] = [];
    const p = await wsSessionPair({ server: { onStream: (s) => copying(s, atServer, upCopies) }, client: { onStream: (s) => copying(s, atClient, downCopies) } });
    pairs.push(p);
    const up = randomBytes(4 * 1024 * 1024, 5);
    const down = randomBytes(4 * 1024 * 1024, 6);
    await writeAll(p.client.openStream(enc("up")), up, 64 * 1024, false);
    await writeAll(p.server.openStream(enc("down")), down, 64 * 1024, false);
    const joined = (parts: Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of parts) out.set(c, (at += c.length) - c.length);
      return out;
    };
    await waitFor(() => joined(upCopies).length >= up.length && joined(downCopies).length >= down.length, "both transfers", 20000);
    expect(sha256(joined(upCopies))).toBe(sha256(up));
    expect(sha256(joined(downCopies))).toBe(sha256(down));
    // Bun.serve's and the client WebSocket's message buffers are detached once delivered.
    expect([...atServer].filter((b) => (b as ArrayBuffer).detached).length).toBeGreaterThan(atServer.size / 2);
    expect([...atClient].filter((b) => (b as ArrayBuffer).detached).length).toBeGreaterThan(atClient.size / 2);
  });

  test("closing either end reaches the other session", async () => {
    const p1 = await wsSessionPair();
    pairs.push(p1);
    p1.client.close("client leaving");
    const r1 = await p1.serverClosed;
    expect(r1.code).toBe("GOAWAY");
    expect(r1.message).toContain("client leaving");
    const p2 = await wsSessionPair();
    pairs.push(p2);
    p2.server.close("server leaving");
    const r2 = await p2.clientClosed;
    expect(r2.code).toBe("GOAWAY");
    expect(r2.message).toContain("server leaving");
  });

  test("a text message closes the connection", async () => {
    const p = await wsSessionPair();
    pairs.push(p);
    p.clientWs.send("not frames");
    const r = await p.serverClosed;
    expect(r.code).toBe("TRANSPORT_CLOSED");
    expect(r.message).toContain("1003");
    expect((await p.clientClosed).code).toBe("TRANSPORT_CLOSED");
  });
});
