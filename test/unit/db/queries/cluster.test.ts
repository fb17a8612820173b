// The cluster store (db/queries/cluster.ts) on both engines: heartbeats with advertise and
// fingerprint, location upserts and guarded clears, and the survivors' expiry of dead nodes.
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import type { Database } from "../../../../db/client.ts";
import { clearNodeLocations, countNodeLocations, createClusterStore, listClusterNodes, restoreLocations } from "../../../../db/queries/cluster.ts";
import { httpServices, ports, TUNNEL_STATE, tunnels } from "../../../../db/schema.ts";
import type { TunnelLocation } from "../../../../lib/cluster/types.ts";
import { insertHeartbeat, insertPort, insertTunnel, memoryDb } from "../../../db-fixtures.ts";

const NOW = Date.parse("2030-03-20T17:28:00Z");
const FP = "ab".repeat(32);

function location(tunnelId: string, nodeId: string, epoch: string, extra: Partial<TunnelLocation> = {}): Omit<TunnelLocation, "updatedAt"> {
  return { tunnelId, nodeId, epoch, userId: null, userName: "", hostname: "", https: [], ports: [], ...extra };
}

async function setup(now = NOW) {
  const db = await memoryDb();
  let clock = now;
  const store = createClusterStore(db, { now: () => clock });
  return { db, store, tick: (ms: number) => (clock += ms), at: () => clock };
}

const tunnelRow = async (db: Database, id: string) => (await db.select().from(tunnels).where(eq(tunnels.id, id)))[0]!;

describe("heartbeats", () => {
  test("a node's heartbeat is upserted with its advertise address and fingerprint; liveNodes sees fresh ones only", async () => {
    const { db, store, tick } = await setup();
    await store.heartbeat({ nodeId: "node-a", advertise: "a.internal:8443", fingerprint: FP, startedAt: NOW - 1000 });
    await store.heartbeat({ nodeId: "node-b", advertise: "b.internal:8443", fingerprint: FP, startedAt: NOW - 1000 });
    // A single-node server's row (no advertise) on the same database is not a peer.
    await insertHeartbeat(db, "standalone", new Date(NOW));
    expect(await store.liveNodes(10_000)).toEqual([
      { nodeId: "node-a", advertise: "a.internal:8443", fingerprint: FP, startedAt: NOW - 1000, heartbeatAt: NOW },
      { nodeId: "node-b", advertise: "b.internal:8443", fingerprint: FP, startedAt: NOW - 1000, heartbeatAt: NOW },
    ]);
    tick(6000);
    // node-a restarted at a new address with a new certificate: the row follows.
    await store.heartbeat({ nodeId: "node-a", advertise: "a2.internal:9443", fingerprint: "cd".repeat(32), startedAt: NOW + 5000 });
    tick(5000);
    expect(await store.liveNodes(10_000)).toEqual([
      { nodeId: "node-a", advertise: "a2.internal:9443", fingerprint: "cd".repeat(32), startedAt: NOW + 5000, heartbeatAt: NOW + 6000 },
    ]);
  });
});

describe("locations", () => {
  test("saved, read back in full and as stamps; a newer login on another node overwrites the row", async () => {
    const { db, store, tick } = await setup();
    const t = await insertTunnel(db);
    const https = [{ domain: "app.example.com", ownCertificate: false, redirect: true, rewriteHost: "", basicHttpAuth: "", firewall: [], meshAllow: ["user:bob"] }];
    const portRules = [{ port: 22001, forwarded: true, firewall: [], private: true }];
    await store.saveLocation(location(t, "node-a", "e1", { userId: "u".repeat(32), userName: "bob", hostname: "h.example.com", https, ports: portRules }));
    expect(await store.locations([t])).toEqual([
      { tunnelId: t, nodeId: "node-a", epoch: "e1", userId: "u".repeat(32), userName: "bob", hostname: "h.example.com", https, ports: portRules, updatedAt: NOW },
    ]);
    tick(1000);
    await store.saveLocation(location(t, "node-b", "e2"));
    expect(await store.locationStamps()).toEqual([{ tunnelId: t, nodeId: "node-b", epoch: "e2", updatedAt: NOW + 1000 }]);
    expect((await store.locations([t]))[0]).toMatchObject({ nodeId: "node-b", epoch: "e2", https: [], ports: [], userName: "" });
    expect(await store.locations(["f".repeat(32)])).toEqual([]);
    expect(await store.locations([])).toEqual([]);
  });

  test("a rules change re-saves the same epoch with the new routes and a new stamp", async () => {
    const { db, store, tick } = await setup();
    const t = await insertTunnel(db);
    await store.saveLocation(location(t, "node-a", "e1"));
    tick(500);
    await store.saveLocation(location(t, "node-a", "e1", { ports: [{ port: 22002, forwarded: true, firewall: [] }] }));
    const [l] = await store.locations([t]);
    expect([l!.epoch, l!.ports.map((p) => p.port), l!.updatedAt]).toEqual(["e1", [22002], NOW + 500]);
  });

  test("clearLocation deletes only while node and epoch still match", async () => {
    const { db, store } = await setup();
    const t = await insertTunnel(db);
    await store.saveLocation(location(t, "node-b", "new"));
    await store.clearLocation(t, "node-a", "old"); // the old node going offline after the client moved
    await store.clearLocation(t, "node-b", "old"); // an older session on the same node
    expect((await store.locationStamps()).map((s) => [s.nodeId, s.epoch])).toEqual([["node-b", "new"]]);
    await store.clearLocation(t, "node-b", "new");
    expect(await store.locationStamps()).toEqual([]);
  });

  test("many tunnels: saved concurrently, read back in chunks", async () => {
    const { store } = await setup();
    const ids = Array.from({ length: 1200 }, (_, i) => i.toString(16).padStart(32, "0"));
    for (let i = 0; i < ids.length; i += 100) await Promise.all(ids.slice(i, i + 100).map((id) => store.saveLocation(location(id, "node-a", `e${id}`))));
    const back = await store.locations(ids);
    expect(back.length).toBe(ids.length);
    expect(new Set(back.map((l) => l.tunnelId))).toEqual(new Set(ids));
    expect((await store.locationStamps()).length).toBe(ids.length);
  });

  test("two nodes saving the same tunnel at once: no error, exactly one row, one of theirs", async () => {
    const { db, store } = await setup();
    const t = await insertTunnel(db);
    await Promise.all(["node-a", "node-b", "node-c"].map((n) => store.saveLocation(location(t, n, `e-${n}`))));
    const stamps = await store.locationStamps();
    expect(stamps.length).toBe(1);
    expect(["node-a", "node-b", "node-c"]).toContain(stamps[0]!.nodeId);
    expect(stamps[0]!.epoch).toBe(`e-${stamps[0]!.nodeId}`);
  });
});

describe("expireDeadNodes", () => {
  test("a dead node's locations go and its tunnels are marked offline; a live node's stay", async () => {
    const { db, store, tick } = await setup();
    await store.heartbeat({ nodeId: "node-a", advertise: "a:1", fingerprint: FP, startedAt: NOW });
    await store.heartbeat({ nodeId: "node-b", advertise: "b:1", fingerprint: FP, startedAt: NOW });
    const onA = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-a", connectedAt: new Date(NOW), uptime: 10 });
    const onB = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-b", connectedAt: new Date(NOW), uptime: 10 });
    await insertPort(db, 22001, onB);
    await db.update(ports).set({ active: true }).where(eq(ports.port, 22001));
    await db.insert(httpServices).values({ id: "1".repeat(32), tunnelId: onB, domain: "b.example.com", active: true });
    await store.saveLocation(location(onA, "node-a", "ea"));
    await store.saveLocation(location(onB, "node-b", "eb"));

    tick(8000);
    await store.heartbeat({ nodeId: "node-a", advertise: "a:1", fingerprint: FP, startedAt: NOW });
    expect(await store.expireDeadNodes(10_000)).toBe(0); // node-b is 8 s old: not dead yet
    tick(4000);
    expect(await store.expireDeadNodes(10_000)).toBe(1);

    expect((await store.locationStamps()).map((s) => s.tunnelId)).toEqual([onA]);
    const b = await tunnelRow(db, onB);
    expect([b.state, b.serverNode, b.connectedAt, b.uptime]).toEqual([TUNNEL_STATE.offline, null, null, 0]);
    expect((await db.select().from(ports))[0]!.active).toBe(false);
    expect((await db.select().from(httpServices))[0]!.active).toBe(false);
    const a = await tunnelRow(db, onA);
    expect([a.state, a.serverNode]).toEqual([TUNNEL_STATE.online, "node-a"]);
    expect(await store.expireDeadNodes(10_000)).toBe(0); // nothing left to do
  });

  test("a tunnel that moved to a live node before the sweep is left alone", async () => {
    const { db, store, tick } = await setup();
    await store.heartbeat({ nodeId: "node-b", advertise: "b:1", fingerprint: FP, startedAt: NOW });
    const t = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-b" });
    await store.saveLocation(location(t, "node-b", "eb"));
    tick(20_000);
    // node-b died; the client reconnected to node-a, which is live.
    await store.heartbeat({ nodeId: "node-a", advertise: "a:1", fingerprint: FP, startedAt: NOW });
    await db.update(tunnels).set({ serverNode: "node-a" }).where(eq(tunnels.id, t));
    await store.saveLocation(location(t, "node-a", "ea"));
    expect(await store.expireDeadNodes(10_000)).toBe(0);
    expect((await store.locationStamps()).map((s) => [s.nodeId, s.epoch])).toEqual([["node-a", "ea"]]);
    expect((await tunnelRow(db, t)).state).toBe(TUNNEL_STATE.online);
  });

  test("a location of a node that has no heartbeat row at all, and an online tunnel of a dead node without a location", async () => {
    const { db, store } = await setup();
    await store.heartbeat({ nodeId: "node-a", advertise: "a:1", fingerprint: FP, startedAt: NOW });
    const ghost = await insertTunnel(db, { state: TUNNEL_STATE.offline });
    await store.saveLocation(location(ghost, "node-gone", "e"));
    const orphan = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-gone" });
    expect(await store.expireDeadNodes(10_000)).toBe(2);
    expect(await store.locationStamps()).toEqual([]);
    expect((await tunnelRow(db, orphan)).state).toBe(TUNNEL_STATE.offline);
  });

  test("two survivors sweeping at once both succeed and count the work once between them", async () => {
    const { db, store, tick } = await setup();
    await store.heartbeat({ nodeId: "node-b", advertise: "b:1", fingerprint: FP, startedAt: NOW });
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const t = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-b" });
      await store.saveLocation(location(t, "node-b", `e${i}`));
      ids.push(t);
    }
    tick(11_000);
    // An in-memory SQLite database has one connection, which a transaction holds: there the
    // second sweep runs after the first (a file has one writer at a time anyway).
    const sweep = () => store.expireDeadNodes(10_000);
    const counts = process.env.SPOKES_TEST_DB === "postgres" ? await Promise.all([sweep(), sweep()]) : [await sweep(), await sweep()];
    expect(counts[0]! + counts[1]!).toBe(5);
    expect(await store.locationStamps()).toEqual([]);
  });
});

describe("listings", () => {
  test("cluster ls: nodes with heartbeat age, live or dead, and the tunnels each holds", async () => {
    const { db, store, tick, at } = await setup();
    await store.heartbeat({ nodeId: "node-a", advertise: "a:1", fingerprint: FP, startedAt: NOW });
    await store.heartbeat({ nodeId: "node-b", advertise: "b:1", fingerprint: FP, startedAt: NOW });
    const [t1, t2, t3] = [await insertTunnel(db), await insertTunnel(db), await insertTunnel(db)];
    await store.saveLocation(location(t1, "node-a", "1"));
    await store.saveLocation(location(t2, "node-a", "2"));
    await store.saveLocation(location(t3, "node-x", "3")); // no heartbeat row
    tick(3000);
    await store.heartbeat({ nodeId: "node-a", advertise: "a:1", fingerprint: FP, startedAt: NOW });
    tick(9000);
    await insertHeartbeat(db, "standalone", new Date(at() - 30_000)); // a single-node server: 60 s window
    const nodes = await listClusterNodes(db, at());
    expect(nodes.map((n) => [n.nodeId, n.heartbeatAgeMs, n.live, n.tunnels, n.advertise])).toEqual([
      ["node-a", 9000, true, 2, "a:1"],
      ["node-b", 12_000, false, 0, "b:1"],
      ["node-x", -1, false, 1, ""],
      ["standalone", 30_000, true, 0, ""],
    ]);
    expect(await clearNodeLocations(db, "node-a")).toBe(2);
    expect((await store.locationStamps()).map((s) => [s.tunnelId, s.nodeId])).toEqual([[t3, "node-x"]]);
  });
});

describe("restoreLocations", () => {
  test("insert-only: missing locations come back with their tunnels online on the node; a newer login elsewhere keeps its row and its tunnel", async () => {
    const { db, store } = await setup();
    const back = await insertTunnel(db, { state: TUNNEL_STATE.offline, connectedAt: null });
    const elsewhere = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-b", connectedAt: new Date(NOW - 5000) });
    const shut = await insertTunnel(db, { state: TUNNEL_STATE.shutdown });
    await store.saveLocation(location(elsewhere, "node-b", "newer"));
    expect(await countNodeLocations(db, "node-a")).toBe(0);
    const n = await restoreLocations(db, [location(back, "node-a", "e1"), location(elsewhere, "node-a", "old"), location(shut, "node-a", "e3")], NOW);
    expect(n).toBe(2); // back and shut get rows; elsewhere keeps node-b's
    expect(await countNodeLocations(db, "node-a")).toBe(2);
    expect((await store.locations([elsewhere]))[0]).toMatchObject({ nodeId: "node-b", epoch: "newer" });
    const b = await tunnelRow(db, back);
    expect([b.state, b.serverNode, b.connectedAt?.getTime()]).toEqual([TUNNEL_STATE.online, "node-a", NOW]);
    expect([(await tunnelRow(db, elsewhere)).serverNode, (await tunnelRow(db, shut)).state]).toEqual(["node-b", TUNNEL_STATE.shutdown]);
  });
});
