// A cluster node's database wiring (commands/_serve/cluster-store.ts) and the login policy's
// location hooks: the heartbeat with advertise and certificate fingerprint, what a previous
// run under the same node id left, locations written and cleared by the tunnel hooks with
// the checked routes, and survivors sweeping a dead node. Runs on SQLite by default and on
// PostgreSQL with SPOKES_TEST_DB=postgres.
import { afterEach, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { createClusterStore } from "../../../db/queries/cluster.ts";
import { markTunnelOnline } from "../../../db/queries/live.ts";
import { TUNNEL_STATE, tunnels } from "../../../db/schema.ts";
import { startClusterMembership, type ClusterMembership } from "../../../commands/_serve/cluster-store.ts";
import { createLoginPolicy } from "../../../commands/_serve/login-policy.ts";
import { defaultServerConfig } from "../../../lib/config/server-config.ts";
import { generateSelfSigned, sha256Fingerprint } from "../../../lib/tls/certificates.ts";
import type { LiveTunnel } from "../../../lib/tunnel/server/server.ts";
import { insertTunnel, memoryDb } from "../../db-fixtures.ts";
import { waitFor } from "../../helpers.ts";

const settings = { nodeId: "node-a", advertise: "127.0.0.1:8443", secret: "0123456789abcdef" };
const quiet = { info() {}, warn() {} };
const started: ClusterMembership[] = [];
afterEach(() => {
  for (const m of started.splice(0)) m.halt();
});

async function join(db: Awaited<ReturnType<typeof memoryDb>>, opts: { heartbeatMs?: number; deadAfterMs?: number } = {}) {
  const cert = await generateSelfSigned("spokes.test");
  const logs: string[] = [];
  const m = await startClusterMembership({
    db,
    settings,
    started: 1_000,
    certificatePem: () => cert.certPem,
    log: { info: (s) => logs.push(s), warn: (s) => logs.push(s) },
    ...opts,
  });
  started.push(m);
  return { m, cert, logs };
}

/** What the hooks read of a live tunnel. */
function liveTunnel(tunnelId: string, session: string, over: Partial<LiveTunnel> = {}): LiveTunnel {
  return {
    tunnelId,
    userId: null,
    session,
    login: { tunnelId, userId: null, userName: "bob", hostname: "h.spokes.test" },
    https: [],
    ports: [],
    address: "1.2.3.4",
    info: { os: "linux", arch: "x64", version: "1" },
    ...over,
  } as unknown as LiveTunnel;
}

test("joining writes the heartbeat with the advertise address and the served certificate's fingerprint", async () => {
  const db = await memoryDb();
  const { m, cert } = await join(db);
  const [node] = await m.store.liveNodes(10_000);
  expect(node).toMatchObject({ nodeId: "node-a", advertise: "127.0.0.1:8443", startedAt: 1_000 });
  expect(node!.fingerprint).toBe(sha256Fingerprint(cert.certPem));
  expect(node!.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
});

test("what a previous run of the same node id left is cleared at join: its locations and online tunnels", async () => {
  const db = await memoryDb();
  const t = await insertTunnel(db);
  await markTunnelOnline(db, t, { address: "", os: "", arch: "", version: "", node: "node-a" });
  await createClusterStore(db).saveLocation({ tunnelId: t, nodeId: "node-a", epoch: "old", userId: null, hostname: "", https: [], ports: [] });
  const { m, logs } = await join(db);
  expect(await m.store.locationStamps()).toEqual([]);
  const [row] = await db.select().from(tunnels).where(eq(tunnels.id, t));
  expect([row!.state, row!.serverNode]).toEqual([TUNNEL_STATE.offline, null]);
  expect(logs.join("\n")).toContain("cleared 1 tunnel location(s)");
});

test("the login policy's hooks write the location with the checked routes and login fields, and clear only their own epoch", async () => {
  const db = await memoryDb();
  const { m } = await join(db);
  const config = defaultServerConfig("spokes.test");
  const policy = createLoginPolicy({ db, config, node: "node-a", certificateCovers: () => true, locations: m.locations });
  const t = await insertTunnel(db);
  const https = [{ domain: "app.example.com", ownCertificate: false, redirect: false, rewriteHost: "", basicHttpAuth: "", firewall: [] }];
  const checked = await policy.checkRules({ tunnelId: t, userId: null, hostname: "" }, [...https, { ...https[0]!, domain: "spokes.test" }], [{ port: 22001, forwarded: true, firewall: [] }]);
  expect(checked.refused.map((r) => r.rule)).toEqual(["spokes.test", "22001"]);
  const live = liveTunnel(t, "epoch-1", { https: checked.https, ports: checked.ports });
  await policy.online(live);
  await policy.rulesChanged(live, {});
  const [loc] = await m.store.locations([t]);
  expect(loc).toMatchObject({ tunnelId: t, nodeId: "node-a", epoch: "epoch-1", userName: "bob", hostname: "h.spokes.test", ports: [] });
  expect(loc!.https.map((h) => h.domain)).toEqual(["app.example.com"]);

  // A newer login of the same tunnel elsewhere: the old session's offline leaves its row.
  await m.store.saveLocation({ tunnelId: t, nodeId: "node-b", epoch: "epoch-2", userId: null, hostname: "", https: [], ports: [] });
  await policy.offline(live);
  expect((await m.store.locationStamps()).map((s) => [s.nodeId, s.epoch])).toEqual([["node-b", "epoch-2"]]);
  // Its own session ending clears it.
  await m.store.saveLocation({ tunnelId: t, nodeId: "node-a", epoch: "epoch-1", userId: null, hostname: "", https: [], ports: [] });
  await policy.offline(live);
  expect(await m.store.locationStamps()).toEqual([]);
});

test("a survivor sweeps a node that stopped heartbeating: its locations go, its tunnels go offline", async () => {
  const db = await memoryDb();
  const other = createClusterStore(db);
  await other.heartbeat({ nodeId: "node-b", advertise: "b:1", fingerprint: "", startedAt: 0 });
  const t = await insertTunnel(db);
  await markTunnelOnline(db, t, { address: "", os: "", arch: "", version: "", node: "node-b" });
  await other.saveLocation({ tunnelId: t, nodeId: "node-b", epoch: "e", userId: null, hostname: "", https: [], ports: [] });
  const { logs } = await join(db, { heartbeatMs: 50, deadAfterMs: 300 });
  // node-b is live at first, then dead 300 ms after its last heartbeat: bounded wait for the sweep.
  await waitFor(async () => (await other.locationStamps()).length === 0, "the dead node's location swept", 5_000);
  const [row] = await db.select().from(tunnels).where(eq(tunnels.id, t));
  expect([row!.state, row!.serverNode]).toEqual([TUNNEL_STATE.offline, null]);
  expect(logs.join("\n")).toContain("1 tunnel(s) of node(s) without a heartbeat");
  // This node kept heartbeating meanwhile.
  expect((await other.liveNodes(300)).map((n) => n.nodeId)).toEqual(["node-a"]);
});

test("stop clears this node's locations and stops heartbeating", async () => {
  const db = await memoryDb();
  const { m } = await join(db, { heartbeatMs: 20 });
  await m.locations.save(liveTunnel("a".repeat(32), "e1"));
  await m.stop();
  expect(await m.store.locationStamps()).toEqual([]);
  const before = (await m.store.liveNodes(60_000))[0]!.heartbeatAt;
  await Bun.sleep(100);
  expect((await m.store.liveNodes(60_000))[0]!.heartbeatAt).toBe(before);
});

test("a node taken for dead while its database connection was down puts its tunnels' locations back, never over a newer login elsewhere", async () => {
  const db = await memoryDb();
  const { m, logs } = await join(db, { heartbeatMs: 30 });
  const mine = await insertTunnel(db);
  const moved = await insertTunnel(db);
  await markTunnelOnline(db, mine, { address: "", os: "", arch: "", version: "", node: "node-a" });
  // What a survivor's sweep left: no locations, the tunnel offline; one tunnel meanwhile logged in on node-b.
  await db.update(tunnels).set({ state: TUNNEL_STATE.offline, serverNode: null }).where(eq(tunnels.id, mine));
  await m.store.heartbeat({ nodeId: "node-b", advertise: "b:1", fingerprint: "", startedAt: 0 }); // live: the sweep leaves its rows
  await m.store.saveLocation({ tunnelId: moved, nodeId: "node-b", epoch: "newer", userId: null, hostname: "", https: [], ports: [] });
  m.watch(() => [liveTunnel(mine, "e-mine", { ports: [{ port: 22001, forwarded: true, firewall: [] }] }), liveTunnel(moved, "e-old")]);
  await waitFor(async () => (await m.store.locationStamps()).length === 2, "the missing location put back", 5_000);
  const locs = await m.store.locations([mine, moved]);
  expect(locs.map((l) => [l.tunnelId, l.nodeId, l.epoch]).sort()).toEqual([[mine, "node-a", "e-mine"], [moved, "node-b", "newer"]].sort());
  expect(locs.find((l) => l.tunnelId === mine)!.ports.map((p) => p.port)).toEqual([22001]);
  const [row] = await db.select().from(tunnels).where(eq(tunnels.id, mine));
  expect([row!.state, row!.serverNode]).toEqual([TUNNEL_STATE.online, "node-a"]);
  expect(logs.join("\n")).toContain("put back 1 location(s)");
});
