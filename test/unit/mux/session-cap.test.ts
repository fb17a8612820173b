// The per-session cap on buffered outgoing bytes: many streams, each under its own
// high-water mark, toward a peer that grants no more credit, cannot add up without bound.
import { describe, expect, test } from "bun:test";
import type { MuxStream } from "../../../lib/mux/index.ts";
import { sessionPair, waitFor } from "./mux-helpers.ts";

const CHUNK = 64 * 1024;
const CAP = 1024 * 1024;

describe("session cap on buffered bytes", () => {
  test("writers stop at the cap (one write of overshoot each), and all resume and finish once the peer reads", async () => {
    const peerStreams: MuxStream[] = [];
    let received = 0;
    const pair = sessionPair({
      server: { maxSessionBuffered: CAP, keepalive: false },
      client: {
        keepalive: false,
        // The peer takes the streams but does not read: no WINDOW_UPDATE, credit runs out.
        onStream: (s) => {
          s.pause();
          s.ondata = (d) => (received += d.length);
          peerStreams.push(s);
        },
      },
    });
    const N = 16;
    const PER_STREAM = 2 * 1024 * 1024;
    const chunk = new Uint8Array(CHUNK).fill(7);
    const streams = Array.from({ length: N }, () => pair.server.openStream());
    const sent = new Array<number>(N).fill(0);
    const pumps = streams.map((s, i) => () => {
      while (sent[i]! < PER_STREAM) {
        sent[i]! += CHUNK;
        if (!s.write(chunk)) return;
      }
      s.end();
    });
    streams.forEach((s, i) => (s.ondrain = pumps[i]!));
    pumps.forEach((p) => p());
    // Let the credit (256 KiB per stream) be used up and everything settle.
    await waitFor(() => received === 0 && pair.server.stream(streams[0]!.id)!.sendWindow === 0, "the first stream's credit to run out", 4000).catch(() => {});
    await Bun.sleep(50);
    const buffered = streams.reduce((n, s) => n + s.writableLength, 0);
    // Without the cap each stream would hold its own mark (256 KiB) above its credit: 4 MiB.
    expect(buffered).toBeLessThanOrEqual(CAP + N * CHUNK);
    expect(buffered).toBeGreaterThan(0);
    const accepted = sent.reduce((a, b) => a + b, 0);
    expect(accepted).toBeLessThan(N * PER_STREAM);
    // The peer starts reading: every stream drains and finishes.
    for (const s of peerStreams) s.resume();
    await waitFor(() => received === N * PER_STREAM, "every byte at the peer", 20_000);
    expect(sent.every((n) => n === PER_STREAM)).toBe(true);
  });

  test("a stream closed while others wait releases them when it brings the total under the cap", async () => {
    const peerStreams: MuxStream[] = [];
    const pair = sessionPair({
      server: { maxSessionBuffered: CAP, keepalive: false },
      client: { keepalive: false, onStream: (s) => (s.pause(), peerStreams.push(s)) },
    });
    const chunk = new Uint8Array(CHUNK);
    // Fill the session with stalled streams (credit used up, 256 KiB queued each).
    const hogs = Array.from({ length: 8 }, () => pair.server.openStream());
    for (const h of hogs) while (h.write(chunk));
    await Bun.sleep(20);
    const waiter = pair.server.openStream();
    let drained = false;
    waiter.ondrain = () => (drained = true);
    expect(waiter.write(chunk)).toBe(false);
    for (const h of hogs) h.reset();
    await waitFor(() => drained, "the waiter's drain");
  });
});
