// Caps and back-pressure of the socket adapters, measured in bytes: a writer that honours
// write()'s false holds a bounded amount whatever the peer does; one that ignores it is
// cut off at the cap instead of growing memory.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createSecureContext } from "node:tls";
import { BunSocketConnection, bunSocketHandlers, type DuplexConnection } from "../../../lib/net/connection.ts";
import { createSniListener } from "../../../lib/edge/sni-listener.ts";
import { terminateTls } from "../../../lib/edge/tls-termination.ts";
import { generateSelfSigned } from "../../../lib/tls/certificates.ts";
import { waitFor } from "../../helpers.ts";

const listeners: { stop(force?: boolean): void }[] = [];
afterAll(() => listeners.forEach((l) => l.stop(true)));

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A client that connects and reads nothing until `read()` is called; counts what it got. */
async function lazyClient(port: number, tls?: { serverName: string }) {
  const chunks: Uint8Array[] = [];
  let got = 0;
  let closed = false;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    ...(tls ? { tls: { rejectUnauthorized: false, serverName: tls.serverName } } : {}),
    socket: {
      binaryType: "uint8array",
      data(_s, d) {
        chunks.push(d);
        got += d.length;
      },
      close() {
        closed = true;
      },
    },
  });
  return {
    socket,
    get got() {
      return got;
    },
    get closed() {
      return closed;
    },
    bytes() {
      const out = new Uint8Array(got);
      let at = 0;
      for (const c of chunks) out.set(c, (at += c.length) - c.length);
      return out;
    },
  };
}

/** Writes `total` bytes honouring back-pressure; `accepted` is what write() took so far. */
function pumpTo(conn: DuplexConnection, total: number) {
  const payload = new Uint8Array(total).map((_, i) => (i * 13 + (i >> 16)) & 0xff);
  const state = { accepted: 0, blocked: false, payload };
  const pump = () => {
    state.blocked = false;
    while (state.accepted < total) {
      const piece = payload.subarray(state.accepted, state.accepted + 64 * 1024);
      state.accepted += piece.length;
      if (!conn.write(piece)) {
        state.blocked = true;
        return;
      }
    }
    conn.end();
  };
  conn.ondrain = pump;
  conn.resume();
  pump();
  return state;
}

/** Waits until `state` is blocked and made no progress for a while (bounded by the caller's byte check). */
async function stalled(state: { accepted: number; blocked: boolean }, bound: number) {
  let last = -1;
  let since = Date.now();
  await waitFor(
    () => {
      if (state.accepted > bound) return true;
      if (state.blocked && state.accepted === last) return Date.now() - since >= 300;
      last = state.accepted;
      since = Date.now();
      return false;
    },
    "the writer to stall",
    30_000,
    20,
  );
}

// The kernel's loopback buffers on both ends (autotuned up to a few MiB each) plus the
// adapters' own caps: far below the 64 MiB the writer wants to send.
const IN_FLIGHT_BOUND = 20 * 1024 * 1024;
const TOTAL = 64 * 1024 * 1024;

/** With the client paused the writer stalls within the bound; resumed, every byte arrives intact. */
async function boundedThenComplete(c: Awaited<ReturnType<typeof lazyClient>>, state: ReturnType<typeof pumpTo>) {
  await stalled(state, IN_FLIGHT_BOUND);
  expect(state.accepted - c.got).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
  c.socket.resume();
  await waitFor(() => c.got === TOTAL, "every byte", 60_000);
  expect(sha(c.bytes())).toBe(sha(state.payload));
}

describe("BunSocketConnection", () => {
  test("toward a client that reads nothing, an honest writer is held to a bounded amount, then finishes", async () => {
    let state!: ReturnType<typeof pumpTo>;
    const srv = Bun.listen({ hostname: "127.0.0.1", port: 0, allowHalfOpen: true, data: {}, socket: bunSocketHandlers((c) => (state = pumpTo(c, TOTAL))) });
    listeners.push(srv);
    const c = await lazyClient(srv.port);
    c.socket.pause();
    await waitFor(() => state, "the server side");
    await boundedThenComplete(c, state);
  }, 90_000);

  test("a writer that ignores back-pressure is cut off at maxQueuedBytes", async () => {
    let conn!: BunSocketConnection;
    let closedWith: Error | undefined | null = null;
    const srv = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      allowHalfOpen: true,
      data: {},
      socket: bunSocketHandlers(
        (c) => {
          conn = c;
          c.onclose = (err) => (closedWith = err ?? undefined);
        },
        { maxQueuedBytes: 1024 * 1024 },
      ),
    });
    listeners.push(srv);
    const c = await lazyClient(srv.port);
    c.socket.pause();
    await waitFor(() => conn, "the server side");
    const chunk = new Uint8Array(256 * 1024);
    let written = 0;
    while (closedWith === null && written < TOTAL) {
      conn.write(chunk); // the return value is ignored on purpose
      written += chunk.length;
      await Bun.sleep(0);
    }
    expect(closedWith).not.toBeNull();
    expect(written).toBeLessThan(TOTAL);
  }, 30_000);
});

describe("TLS terminated in-process (natively on the front door's socket)", () => {
  test("toward a client that reads nothing, the plaintext writer is held to a bounded amount, then finishes intact", async () => {
    const cert = await generateSelfSigned("caps.test");
    const ctx = createSecureContext({ cert: cert.certPem, key: cert.keyPem });
    let state!: ReturnType<typeof pumpTo>;
    const srv = createSniListener({
      hostname: "127.0.0.1",
      port: 0,
      onHello: async (sni, conn, initial) => {
        const plain = await terminateTls(conn, sni, initial, { selectCertificate: () => ctx });
        if (plain) state = pumpTo(plain, TOTAL);
      },
    });
    listeners.push(srv);
    const c = await lazyClient(srv.port, { serverName: "caps.test" });
    await waitFor(() => state, "the handshake");
    c.socket.pause();
    await boundedThenComplete(c, state);
  }, 90_000);

  test("a visitor uploading while the plaintext side is paused is held back by the socket (bounded), then every byte arrives", async () => {
    const cert = await generateSelfSigned("caps.test");
    const ctx = createSecureContext({ cert: cert.certPem, key: cert.keyPem });
    let plain: DuplexConnection | undefined;
    const received: Uint8Array[] = [];
    let got = 0;
    const srv = createSniListener({
      hostname: "127.0.0.1",
      port: 0,
      onHello: async (sni, conn, initial) => {
        plain = await terminateTls(conn, sni, initial, { selectCertificate: () => ctx });
        if (!plain) return;
        expect(plain).toBeInstanceOf(BunSocketConnection);
        plain.ondata = (d) => {
          received.push(d.slice());
          got += d.length;
        };
      },
    });
    listeners.push(srv);
    const c = await lazyClient(srv.port, { serverName: "caps.test" });
    await waitFor(() => plain, "the handshake");
    // The plaintext side stays paused (as handed over): nothing is delivered, reading stops.
    const payload = new Uint8Array(TOTAL).map((_, i) => (i * 29 + (i >> 12)) & 0xff);
    let sent = 0;
    const push = () => {
      while (sent < TOTAL) {
        const n = c.socket.write(payload.subarray(sent, sent + 64 * 1024));
        sent += Math.max(0, n);
        if (n < 64 * 1024) return;
      }
    };
    let last = -1;
    await waitFor(
      () => {
        push();
        const stuck = sent === last;
        last = sent;
        return stuck || sent >= TOTAL;
      },
      "the uploader to stall",
      30_000,
      300,
    );
    expect(got).toBe(0);
    expect(sent).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
    plain!.resume();
    await waitFor(() => (push(), got >= TOTAL), "every byte", 60_000, 20);
    const joined = new Uint8Array(got);
    let at = 0;
    for (const r of received) joined.set(r, (at += r.length) - r.length);
    expect(sha(joined)).toBe(sha(payload));
  }, 90_000);
});
