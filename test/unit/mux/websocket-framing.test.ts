// The in-process WebSocket framing against Bun's own WebSocket client on 127.0.0.1: a
// plain Bun.listen socket answers the upgrade with websocketUpgradeResponse and runs a
// WebSocketFramingTransport (echo, or a mux session) on it.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { bunSocketHandlers, type BunSocketConnection, type DuplexConnection } from "../../../lib/net/connection.ts";
import { createMuxSession, type MuxStream } from "../../../lib/mux/index.ts";
import { WebSocketTransport } from "../../../lib/mux/transport.ts";
import { WebSocketFramingTransport, websocketAccept, websocketUpgradeResponse } from "../../../lib/mux/websocket-framing.ts";
import { waitFor } from "../../helpers.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A server that upgrades every connection and hands the transport to `onTransport`. */
function wsServer(onTransport: (t: WebSocketFramingTransport, conn: BunSocketConnection) => void) {
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: {},
    socket: bunSocketHandlers((conn) => {
      let head = "";
      conn.ondata = (bytes) => {
        head += new TextDecoder("latin1").decode(bytes);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        conn.ondata = null;
        conn.pause();
        const key = /sec-websocket-key: *([^\r]+)/i.exec(head)![1]!;
        conn.write(websocketUpgradeResponse(key));
        onTransport(new WebSocketFramingTransport(conn, { maxPayload: 4 * 1024 * 1024 }, new TextEncoder().encode(head.slice(end + 4))), conn);
      };
      conn.resume();
    }),
  });
}

const servers: { stop(force?: boolean): void }[] = [];
afterAll(() => servers.forEach((s) => s.stop(true)));

async function open(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  ws.binaryType = "arraybuffer";
  await new Promise<void>((res, rej) => {
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error("websocket failed"));
  });
  return ws;
}

describe("websocket framing (server side, in-process)", () => {
  test("Sec-WebSocket-Accept is the RFC 6455 example value", () => {
    expect(websocketAccept("dGhlIHNhbXBsZSBub25jZQ==")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  });

  test("binary messages of every length class are unmasked and echoed byte for byte", async () => {
    const srv = wsServer((t) =>
      t.bind({
        // The transport is a byte stream: re-frame what arrived, in order.
        data: (c) => void t.send(c),
        drain: () => {},
        close: () => {},
      }),
    );
    servers.push(srv);
    const ws = await open(srv.port);
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 1_000_003];
    const sent = sizes.map((n) => crypto.getRandomValues(new Uint8Array(Math.min(n, 65536))).slice(0, n));
    // Larger than getRandomValues' limit: fill the rest deterministically.
    sent[sent.length - 1] = new Uint8Array(1_000_003).map((_, i) => (i * 31 + 7) & 0xff);
    const total = sent.reduce((a, b) => a + b.length, 0);
    const got: Uint8Array[] = [];
    let n = 0;
    ws.onmessage = (e) => {
      const b = new Uint8Array(e.data as ArrayBuffer);
      got.push(b);
      n += b.length;
    };
    for (const b of sent) ws.send(b);
    await waitFor(() => n >= total, "the echo", 20_000);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const b of got) joined.set(b, (at += b.length) - b.length);
    const want = new Uint8Array(total);
    at = 0;
    for (const b of sent) want.set(b, (at += b.length) - b.length);
    expect(sha(joined)).toBe(sha(want));
    ws.close();
  });

  test("a socket read is freed once the session kept no view of it, and only then", async () => {
    for (const keep of [false, true]) {
      const buffers = new Set<ArrayBufferLike>();
      const copies: Uint8Array[] = [];
      let n = 0;
      const srv = wsServer((t) =>
        t.bind({
          data: (c) => {
            buffers.add(c.buffer);
            copies.push(c.slice());
            n += c.length;
            return !keep;
          },
          drain: () => {},
          close: () => {},
        }),
      );
      servers.push(srv);
      const ws = await open(srv.port);
      const sent = new Uint8Array(3_000_000).map((_, i) => (i * 13 + 5) & 0xff);
      for (let at = 0; at < sent.length; at += 200_000) ws.send(sent.subarray(at, at + 200_000));
      await waitFor(() => n >= sent.length, "the upload", 20_000);
      const joined = new Uint8Array(n);
      let at = 0;
      for (const c of copies) joined.set(c, (at += c.length) - c.length);
      expect(sha(joined)).toBe(sha(sent));
      const detached = [...buffers].filter((b) => (b as ArrayBuffer).detached).length;
      if (keep) expect(detached).toBe(0);
      else expect(detached).toBeGreaterThan(buffers.size / 2); // reads that held a frame header's tail are kept
      ws.close();
    }
  });

  test("a text message closes the connection with 1003; a close from the client is answered", async () => {
    const closes: number[] = [];
    const srv = wsServer((t) => t.bind({ data: () => {}, drain: () => {}, close: (code) => closes.push(code) }));
    servers.push(srv);
    const ws = await open(srv.port);
    const closed = new Promise<number>((res) => (ws.onclose = (e) => res(e.code)));
    ws.send("text is not allowed");
    expect(await closed).toBe(1003);
    expect(closes).toEqual([1003]);

    const ws2 = await open(srv.port);
    const closed2 = new Promise<number>((res) => (ws2.onclose = (e) => res(e.code)));
    ws2.close(4321, "bye");
    expect(await closed2).toBe(4321);
    await waitFor(() => closes.includes(4321), "the server to see the close");
  });

  test("a message over maxPayload is refused with 1009, nothing of it delivered", async () => {
    let delivered = 0;
    const srv = wsServer((t) => t.bind({ data: (c) => void (delivered += c.length), drain: () => {}, close: () => {} }));
    servers.push(srv);
    const ws = await open(srv.port);
    const closed = new Promise<number>((res) => (ws.onclose = (e) => res(e.code)));
    ws.send(new Uint8Array(4 * 1024 * 1024 + 1));
    expect(await closed).toBe(1009);
    expect(delivered).toBe(0);
  });

  test("a mux session runs over it against the client transport: 8 MiB through a stream, back-pressure honoured", async () => {
    const srv = wsServer((t) => {
      createMuxSession({
        transport: t,
        side: "server",
        keepalive: false,
        onStream: (s: MuxStream) => {
          s.ondata = (d) => {
            if (!s.write(d)) s.pause();
          };
          s.ondrain = () => s.resume();
          s.onend = () => s.end();
        },
      });
    });
    servers.push(srv);
    const ws = await open(srv.port);
    const client = createMuxSession({ transport: new WebSocketTransport(ws), side: "client", keepalive: false });
    const s = client.openStream();
    const payload = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const parts: Uint8Array[] = [];
    let got = 0;
    s.ondata = (d) => {
      parts.push(d.slice());
      got += d.length;
    };
    let at = 0;
    const pump = () => {
      while (at < payload.length) {
        const ok = s.write(payload.subarray(at, (at += 65536)));
        if (!ok) return;
      }
      s.end();
    };
    s.ondrain = pump;
    pump();
    await waitFor(() => got >= payload.length, "the echo through the mux", 30_000);
    const joined = new Uint8Array(got);
    let o = 0;
    for (const p of parts) joined.set(p, (o += p.length) - p.length);
    expect(sha(joined)).toBe(sha(payload));
    client.close();
  }, 60_000);

  /** A connection that records what is written and lets the test feed what is read. */
  function fakeConnection(copiesWrites: boolean) {
    const written: Uint8Array[] = [];
    const conn: DuplexConnection & { written: Uint8Array[] } = {
      written,
      copiesWrites,
      write: (b) => (written.push(b.slice()), true),
      end() {},
      reset() {},
      pause() {},
      resume() {},
    };
    return conn;
  }

  /** A masked client frame (FIN, binary) as the client would send it. */
  function maskedFrame(payload: Uint8Array, mask: Uint8Array): Uint8Array {
    const len = payload.length;
    const hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const out = new Uint8Array(hl + 4 + len);
    out[0] = 0x82;
    if (hl === 2) out[1] = 0x80 | len;
    else if (hl === 4) (out[1] = 0x80 | 126), (out[2] = len >> 8), (out[3] = len & 0xff);
    else (out[1] = 0x80 | 127), new DataView(out.buffer).setUint32(6, len);
    out.set(mask, hl);
    for (let i = 0; i < len; i++) out[hl + 4 + i] = payload[i]! ^ mask[i & 3]!;
    return out;
  }

  test("payload is unmasked right whatever the piece boundaries and buffer alignment", () => {
    const payload = new Uint8Array(70_001).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
    const mask = new Uint8Array([0x9d, 0x17, 0xe2, 0x4c]);
    const wire = maskedFrame(payload, mask);
    for (const cut of [1, 3, 63, 64, 65, 100, 4097, 33_333]) {
      for (const shift of [0, 1, 2, 3]) {
        const conn = fakeConnection(true);
        const t = new WebSocketFramingTransport(conn);
        const got: Uint8Array[] = [];
        t.bind({ data: (c) => void got.push(c.slice()), drain: () => {}, close: () => {} });
        for (let at = 0; at < wire.length; at += cut) {
          const piece = wire.subarray(at, Math.min(at + cut, wire.length));
          // The piece starts `shift` bytes into its own buffer: every alignment is seen.
          const host = new Uint8Array(piece.length + shift);
          host.set(piece, shift);
          conn.ondata!(host.subarray(shift));
        }
        const joined = new Uint8Array(got.reduce((a, b) => a + b.length, 0));
        let o = 0;
        for (const g of got) joined.set(g, (o += g.length) - g.length);
        expect(sha(joined)).toBe(sha(payload));
      }
    }
  });

  test("sendAfterHeadroom writes the header into the room in front of the payload (one write, no copy) only over a copying connection", () => {
    for (const size of [5, 125, 126, 65_535, 65_536, 300_000]) {
      const payload = new Uint8Array(size).map((_, i) => i & 0xff);
      const want = new WebSocketFramingTransport(fakeConnection(false));
      const wantConn = fakeConnection(false);
      new WebSocketFramingTransport(wantConn).send(payload);
      expect(want.headroom).toBe(0);
      const conn = fakeConnection(true);
      const t = new WebSocketFramingTransport(conn);
      expect(t.headroom).toBe(10);
      const buf = new Uint8Array(t.headroom + size);
      buf.set(payload, t.headroom);
      t.sendAfterHeadroom(buf.subarray(t.headroom));
      expect(conn.written.length).toBe(1);
      expect(sha(conn.written[0]!)).toBe(sha(wantConn.written[0]!));
    }
  });
});
