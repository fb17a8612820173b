import { describe, expect, test } from "bun:test";
import { createMuxPool, MuxError, type MuxSession } from "../../../lib/mux/index.ts";
import { goAwayFrame } from "../../../lib/protocol/index.ts";
import { rawPeer, sessionPair, waitFor } from "./mux-helpers.ts";

describe("session pool", () => {
  test("streams spread over the sessions with the fewest open streams", async () => {
    const pool = createMuxPool({ maxSize: 3 });
    const pairs = [0, 1, 2].map(() => sessionPair({ server: { onStream: () => {} } }));
    for (const p of pairs) expect(pool.add(p.client)).toBe(true);
    expect(pool.add(pairs[0]!.client)).toBe(false); // already there
    expect(pool.add(sessionPair().client)).toBe(false); // full
    expect(pool.size).toBe(3);
    const streams = Array.from({ length: 30 }, () => pool.openStream());
    expect(pairs.map((p) => p.client.streamCount)).toEqual([10, 10, 10]);
    expect(pool.streamCount).toBe(30);
    // Free streams on one session: it gets the next ones.
    for (const s of streams.filter((s) => s.session === pairs[1]!.client).slice(0, 6)) s.reset();
    const next = Array.from({ length: 6 }, () => pool.openStream());
    expect(next.every((s) => s.session === pairs[1]!.client)).toBe(true);
    pool.closeAll();
    expect(pool.size).toBe(0);
    expect(pairs.every((p) => p.client.closed)).toBe(true);
  });

  test("an idle pool rotates; closed and going-away sessions are skipped and pruned", async () => {
    const pool = createMuxPool();
    const pairs = [0, 1, 2].map(() => sessionPair());
    for (const p of pairs) pool.add(p.client);
    const picked = new Set<MuxSession>();
    for (let i = 0; i < 3; i++) picked.add(pool.pick()!);
    expect(picked.size).toBe(3);
    pairs[0]!.client.close();
    expect(pool.size).toBe(2);
    const peer = rawPeer({}, { side: "client" });
    pool.add(peer.session);
    peer.send(goAwayFrame());
    await waitFor(() => peer.session.goingAway, "goaway");
    for (let i = 0; i < 10; i++) expect([pairs[1]!.client, pairs[2]!.client]).toContain(pool.pick()!);
    expect(pool.remove(pairs[1]!.client)).toBe(true);
    expect(pool.remove(pairs[1]!.client)).toBe(false);
    pairs[2]!.client.close();
    expect(pool.pick()).toBeUndefined();
    expect(() => pool.openStream()).toThrow(MuxError);
  });
});
