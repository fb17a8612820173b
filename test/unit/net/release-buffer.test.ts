// Read buffers are freed as soon as their bytes are sent or copied (lib/net/release-buffer.ts):
// only buffers handed over whole, only once nothing keeps a view of them, and never at the
// cost of the bytes themselves.
import { describe, expect, test } from "bun:test";
import { releaseBuffer } from "../../../lib/net/release-buffer.ts";
import { type BunSocketConnection, bunSocketHandlers } from "../../../lib/net/connection.ts";
import { pipe } from "../../../lib/net/pipe.ts";
import { createMuxSession, type MuxStream } from "../../../lib/mux/index.ts";
import { TransportBase } from "../../../lib/mux/transport.ts";
import { dataFrame, encodeFrames, FrameType, openFrame, type Frame } from "../../../lib/protocol/index.ts";
import { FakeConnection } from "../socks/fake-connection.ts";
import { collect, randomBytes, rawPeer, sessionPair, sha256, waitFor } from "../mux/mux-helpers.ts";

const detached = (b: Uint8Array) => (b.buffer as ArrayBuffer).detached;

/** A transport that reports what the session answered for each chunk it delivered. */
class ProbeTransport extends TransportBase {
  send(): boolean {
    return true;
  }
  close(): void {}
  push(chunk: Uint8Array): boolean {
    return this.deliverData(chunk);
  }
}

/** A server session on a probe transport, with one stream the peer opened (id 1). */
function probeSession(onStream: (s: MuxStream) => void) {
  const transport = new ProbeTransport();
  createMuxSession({ transport, side: "server", keepalive: false, onStream: (s) => onStream(s) });
  transport.push(encodeFrames([openFrame(1, new Uint8Array(0))]));
  return transport;
}

describe("releaseBuffer", () => {
  test("detaches a view that covers its whole buffer, leaves a partial view alone", () => {
    const whole = new Uint8Array(1024);
    releaseBuffer(whole);
    expect(detached(whole)).toBe(true);
    expect(whole.length).toBe(0);
    const backing = new Uint8Array(1024).fill(5);
    const part = backing.subarray(0, 512);
    releaseBuffer(part);
    expect(detached(part)).toBe(false);
    expect(backing[1023]).toBe(5);
    releaseBuffer(whole); // twice is harmless
  });
});

describe("handing over on write", () => {
  test("pipe hands a fresh read over to the destination and tells the source its consumer copies", () => {
    const a = Object.assign(new FakeConnection(), { freshReads: true });
    const releases: (boolean | undefined)[] = [];
    const b = Object.assign(new FakeConnection(), { copiesWrites: true });
    const write = b.write.bind(b);
    b.write = (bytes: Uint8Array, release?: boolean) => (releases.push(release), write(bytes));
    void pipe(a, b);
    a.ondata!(new Uint8Array([1, 2, 3]));
    b.ondata!(new Uint8Array([4]));
    expect(releases).toEqual([true]);
    expect((a as { ondataCopies?: boolean }).ondataCopies).toBe(true);
    // b's reads are not fresh and a does not copy: neither flag is set for that direction.
    expect((b as { ondataCopies?: boolean }).ondataCopies).toBe(false);
    expect(a.bytes()).toEqual(new Uint8Array([4]));
  });

  test("a stream frees a handed-over buffer once framed, and the peer gets the bytes intact", async () => {
    const p = rawPeer({}, { side: "client" });
    const s = p.session.openStream(new Uint8Array(0));
    const data = randomBytes(200_000);
    const expected = sha256(data);
    const kept = randomBytes(1000, 2);
    s.write(data, true);
    s.write(kept);
    const payloads = () => p.frames.filter((f) => f.type === FrameType.DATA).map((f) => (f as Frame & { data: Uint8Array }).data);
    await waitFor(() => payloads().reduce((n, x) => n + x.length, 0) >= 201_000, "data frames");
    const all = new Uint8Array(201_000);
    let at = 0;
    for (const x of payloads()) (all.set(x, at), (at += x.length));
    expect(sha256(all.subarray(0, 200_000))).toBe(expected);
    expect(detached(data)).toBe(true);
    expect(detached(kept)).toBe(false);
  });
});

describe("a socket connection frees what is handed over", () => {
  test("write(bytes, true) frees the buffer once sent or queued; the peer gets every byte", async () => {
    let received = 0;
    const hash = new Bun.CryptoHasher("sha256");
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(_s, d) {
          received += d.length;
          hash.update(d);
        },
      },
    });
    try {
      let conn!: BunSocketConnection;
      await Bun.connect({ hostname: "127.0.0.1", port: server.port, allowHalfOpen: true, data: {}, socket: bunSocketHandlers((c) => (conn = c)) });
      const expected = new Bun.CryptoHasher("sha256");
      const handed: Uint8Array[] = [];
      // More than the kernel takes at once: short writes copy the rest into the queue (freed
      // once written), and the writer waits for drain as pipe does.
      for (let i = 0; i < 64; i++) {
        const chunk = randomBytes(256 * 1024, i + 1);
        expected.update(chunk);
        handed.push(chunk);
        if (!conn.write(chunk, true)) await new Promise<void>((resolve) => (conn.ondrain = resolve));
      }
      expect(handed.every(detached)).toBe(true);
      await waitFor(() => received >= 64 * 256 * 1024, "every byte at the peer", 10_000);
      expect(hash.digest("hex")).toBe(expected.digest("hex"));
    } finally {
      server.stop(true);
    }
  });
});

describe("a socket's reads after a TLS upgrade", () => {
  test("reads for a detached connection (Bun's raw copy of the encrypted bytes) are freed; an attached one gets them", () => {
    const handlers = bunSocketHandlers(() => {});
    const raw = new Uint8Array(4096);
    handlers.data!({ data: {} } as never, raw as never);
    expect(detached(raw)).toBe(true);
    const got: Uint8Array[] = [];
    const attached = { data: { connection: { handleData: (c: Uint8Array) => got.push(c) } } };
    const chunk = new Uint8Array(10);
    handlers.data!(attached as never, chunk as never);
    expect(got).toEqual([chunk]);
    expect(detached(chunk)).toBe(false);
  });
});

describe("the session reports whether a chunk may be freed", () => {
  test("data delivered to a consumer that copies: nothing kept", () => {
    const got: number[] = [];
    const t = probeSession((s) => {
      s.ondataCopies = true;
      s.ondata = (b) => void got.push(b.length);
    });
    expect(t.push(encodeFrames([dataFrame(1, new Uint8Array(100)), dataFrame(1, new Uint8Array(50))]))).toBe(true);
    expect(got).toEqual([100, 50]);
  });

  test("a consumer that may keep views, a paused stream holding a view and an OPEN keep the chunk", () => {
    const t = probeSession((s) => (s.ondata = () => {}));
    expect(t.push(encodeFrames([dataFrame(1, new Uint8Array(10))]))).toBe(false);
    let stream!: MuxStream;
    const t2 = probeSession((s) => {
      stream = s;
      s.ondataCopies = true;
      s.ondata = () => {};
      s.pause();
    });
    // Paused: a payload that is most of its chunk is held as a view (kept); a small one is
    // copied into the stream's own blocks, so the chunk may go.
    expect(t2.push(encodeFrames([dataFrame(1, new Uint8Array(8192))]))).toBe(false);
    expect(t2.push(encodeFrames([dataFrame(1, new Uint8Array(10))]))).toBe(true);
    stream.resume();
    expect(t2.push(encodeFrames([openFrame(3, new Uint8Array(0))]))).toBe(false);
  });

  test("a DATA frame assembled from pieces is freed once a copying consumer took it, kept otherwise", () => {
    for (const copies of [true, false]) {
      const got: Uint8Array[] = [];
      const t = probeSession((s) => {
        s.ondataCopies = copies;
        s.ondata = (b) => void got.push(b);
      });
      const wire = encodeFrames([dataFrame(1, new Uint8Array(5000).fill(3))]);
      t.push(wire.slice(0, 2000));
      t.push(wire.slice(2000));
      expect(got.length).toBe(1);
      expect(got[0]!.byteLength).toBe(copies ? 0 : 5000); // detached views read as empty
      expect(detached(got[0]!)).toBe(copies);
    }
  });

  test("end to end over a session pair: every byte arrives while chunks are freed behind it", async () => {
    const data = randomBytes(3_000_000, 7);
    let resolve!: (hash: string) => void;
    const received = new Promise<string>((r) => (resolve = r));
    const p = sessionPair({
      server: {
        onStream: (s) => {
          const c = collect(s);
          s.onend = () => resolve(sha256(c.all()));
        },
      },
    });
    const s = p.client.openStream(new Uint8Array(0));
    for (let at = 0; at < data.length; at += 65536) s.write(data.slice(at, at + 65536), true);
    s.end();
    expect(await received).toBe(sha256(data));
  });
});
