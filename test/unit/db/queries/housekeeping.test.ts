// Each housekeeping rule on its own (SPEC 2.2), then all together with the count.
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { recordHeartbeat } from "../../../../db/queries/heartbeats.ts";
import { createClusterStore } from "../../../../db/queries/cluster.ts";
import { findHousekeepingIssues, fixHousekeepingIssues } from "../../../../db/queries/housekeeping.ts";
import type { Database } from "../../../../db/client.ts";
import { ports, TUNNEL_STATE, tunnels } from "../../../../db/schema.ts";
import { insertHeartbeat, insertPort, insertTunnel, memoryDb } from "../../../db-fixtures.ts";

const NOW = Date.parse("2030-03-20T17:28:00Z");
const opts = { portRange: { begin: 30000, end: 30099 }, now: NOW };

const stateOf = async (db: Database, id: string) => (await db.select({ s: tunnels.state }).from(tunnels).where(eq(tunnels.id, id)))[0]?.s;
const portNumbers = async (db: Database) => (await db.select({ p: ports.port }).from(ports).orderBy(ports.port)).map((r) => r.p);

describe("rules", () => {
  test("a consistent database has no issues", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 5000));
    const t = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-a" });
    await insertTunnel(db, { state: TUNNEL_STATE.offline });
    await insertTunnel(db, { state: TUNNEL_STATE.shutdown, token: "inactive" });
    await insertPort(db, 30000, t);
    await insertPort(db, 30099, t);
    expect(await findHousekeepingIssues(db, opts)).toEqual([]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(0);
  });

  test("ports of shut-down and deleted tunnels are released", async () => {
    const db = await memoryDb();
    const shut = await insertTunnel(db, { id: "1".repeat(32), state: TUNNEL_STATE.shutdown, token: "none" });
    const del = await insertTunnel(db, { id: "2".repeat(32), state: TUNNEL_STATE.deleted, token: "none" });
    await insertPort(db, 30001, shut);
    await insertPort(db, 30002, del);
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues.map((i) => [i.kind, i.port, i.description])).toEqual([
      ["port-tunnel-shutdown", 30001, `port 30001 is allocated to shutdown tunnel ${shut}: release`],
      ["port-tunnel-shutdown", 30002, `port 30002 is allocated to deleted tunnel ${del}: release`],
    ]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(2);
    expect(await portNumbers(db)).toEqual([]);
  });

  test("an active tunnel whose token is inactive is shut down, and its ports released", async () => {
    const db = await memoryDb();
    const t = await insertTunnel(db, { id: "3".repeat(32), state: TUNNEL_STATE.offline, token: "inactive" });
    await insertPort(db, 30003, t);
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues.map((i) => [i.kind, i.description])).toEqual([
      ["tunnel-token-inactive", `tunnel ${t} (Offline) is still active but its auth token is inactive: shut down`],
      ["port-token-inactive", `port 30003 is allocated to tunnel ${t} whose auth token is inactive: release`],
    ]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(2);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.shutdown);
    expect(await portNumbers(db)).toEqual([]);
  });

  test("a tunnel without any token is not treated as having an inactive one", async () => {
    const db = await memoryDb();
    await insertTunnel(db, { state: TUNNEL_STATE.init, token: "none" });
    expect(await findHousekeepingIssues(db, opts)).toEqual([]);
  });

  test("online with no live server at all (crash) → offline", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 61_000)); // too old
    const t = await insertTunnel(db, { id: "4".repeat(32), state: TUNNEL_STATE.online, connectedAt: new Date(NOW - 5000) });
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues.map((i) => [i.kind, i.description])).toEqual([
      ["tunnel-stale-online", `tunnel ${t} is marked online but no server has a heartbeat in the last 60 s: mark offline`],
    ]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(1);
    const [row] = await db.select().from(tunnels);
    expect([row!.state, row!.connectedAt, row!.serverNode]).toEqual([TUNNEL_STATE.offline, null, null]);
  });

  test("online on a node that stopped while another node is live → offline; on a live node → kept", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-live", new Date(NOW - 59_000));
    await insertHeartbeat(db, "node-dead", new Date(NOW - 120_000));
    const dead = await insertTunnel(db, { id: "5".repeat(32), state: TUNNEL_STATE.online, serverNode: "node-dead" });
    const live = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-live" });
    const anyNode = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: null });
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues.map((i) => [i.kind, i.tunnelId, i.description])).toEqual([
      ["tunnel-stale-online", dead, `tunnel ${dead} is marked online but its server node node-dead has no heartbeat in the last 60 s: mark offline`],
    ]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(1);
    expect([await stateOf(db, dead), await stateOf(db, live), await stateOf(db, anyNode)]).toEqual([TUNNEL_STATE.offline, TUNNEL_STATE.online, TUNNEL_STATE.online]);
  });

  test("ports outside portRange are released", async () => {
    const db = await memoryDb();
    const t = await insertTunnel(db, { state: TUNNEL_STATE.offline });
    await insertPort(db, 29999, t);
    await insertPort(db, 30050, t);
    await insertPort(db, 30100, t);
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues.map((i) => i.description)).toEqual([
      "port 29999 is outside the port range 30000-30099: release",
      "port 30100 is outside the port range 30000-30099: release",
    ]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(2);
    expect(await portNumbers(db)).toEqual([30050]);
  });

  test("ports of a tunnel that does not exist are released", async () => {
    const db = await memoryDb();
    await insertPort(db, 30007, "6".repeat(32));
    expect((await findHousekeepingIssues(db, opts)).map((i) => i.description)).toEqual([`port 30007 is allocated to unknown tunnel ${"6".repeat(32)}: release`]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(1);
    expect(await portNumbers(db)).toEqual([]);
  });
});

describe("counting and safety", () => {
  test("one issue per port even when several rules apply; tunnels and ports counted together", async () => {
    const db = await memoryDb();
    const shut = await insertTunnel(db, { state: TUNNEL_STATE.shutdown, token: "inactive" });
    await insertPort(db, 40000, shut); // shut-down tunnel AND out of range: one issue
    const inactive = await insertTunnel(db, { state: TUNNEL_STATE.online, token: "inactive" }); // token rule wins over stale-online
    await insertPort(db, 30001, inactive);
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues.map((i) => i.kind)).toEqual(["tunnel-token-inactive", "port-token-inactive", "port-tunnel-shutdown"]);
    expect(await fixHousekeepingIssues(db, opts)).toBe(3);
    expect(await findHousekeepingIssues(db, opts)).toEqual([]);
  });

  test("a fix re-checks its condition: a tunnel that reconnected meanwhile is left online and not counted", async () => {
    const db = await memoryDb();
    const t = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-old" });
    const issues = await findHousekeepingIssues(db, opts);
    expect(issues).toHaveLength(1);
    // The tunnel reconnects to a new node before the fix runs.
    await recordHeartbeat(db, "node-new", { now: new Date(NOW) });
    await db.update(tunnels).set({ serverNode: "node-new" }).where(eq(tunnels.id, t));
    expect(await fixHousekeepingIssues(db, { ...opts, issues })).toBe(0);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.online);
  });

  test("findHousekeepingIssues changes nothing", async () => {
    const db = await memoryDb();
    const t = await insertTunnel(db, { state: TUNNEL_STATE.online, token: "inactive" });
    await insertPort(db, 30001, t);
    await findHousekeepingIssues(db, opts);
    await findHousekeepingIssues(db, opts);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.online);
    expect(await portNumbers(db)).toEqual([30001]);
  });
});

describe("cluster (tunnel locations)", () => {
  const store = (db: Database) => createClusterStore(db, { now: () => NOW });
  const loc = (tunnelId: string, nodeId: string, epoch = "e") => ({ tunnelId, nodeId, epoch, userId: null, hostname: "", https: [], ports: [] });
  const cluster = { ...opts, cluster: true };

  test("a consistent cluster has no issues", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 3000));
    const t = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-a", connectedAt: new Date(NOW - 60_000) });
    await store(db).saveLocation(loc(t, "node-a"));
    expect(await findHousekeepingIssues(db, cluster)).toEqual([]);
  });

  test("a location held by a dead node is removed and its tunnel marked offline (one issue, not also stale-online)", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 3000));
    await insertHeartbeat(db, "node-b", new Date(NOW - 15_000)); // dead for the cluster, live for the 60 s window
    const t = await insertTunnel(db, { id: "7".repeat(32), state: TUNNEL_STATE.online, serverNode: "node-b" });
    await store(db).saveLocation(loc(t, "node-b"));
    const issues = await findHousekeepingIssues(db, cluster);
    expect(issues.map((i) => [i.kind, i.description])).toEqual([
      ["location-dead-node", `tunnel ${t} is located on node node-b, which has no heartbeat in the last 10 s: remove the location, mark offline`],
    ]);
    expect(await fixHousekeepingIssues(db, cluster)).toBe(1);
    expect(await store(db).locationStamps()).toEqual([]);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.offline);
    expect(await findHousekeepingIssues(db, cluster)).toEqual([]);
  });

  test("locations of deleted and unknown tunnels are removed", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 3000));
    const gone = await insertTunnel(db, { id: "8".repeat(32), state: TUNNEL_STATE.deleted, token: "none" });
    await store(db).saveLocation(loc(gone, "node-a"));
    await store(db).saveLocation(loc("9".repeat(32), "node-a"));
    const issues = await findHousekeepingIssues(db, cluster);
    expect(issues.map((i) => i.description)).toEqual([
      `node node-a holds a location of deleted tunnel ${gone}: remove`,
      `node node-a holds a location of unknown tunnel ${"9".repeat(32)}: remove`,
    ]);
    expect(await fixHousekeepingIssues(db, cluster)).toBe(2);
    expect(await store(db).locationStamps()).toEqual([]);
  });

  test("an online tunnel no location holds goes offline in cluster mode, after the login grace; not outside cluster mode", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 3000));
    const t = await insertTunnel(db, { id: "a".repeat(32), state: TUNNEL_STATE.online, serverNode: "node-a", connectedAt: new Date(NOW - 30_000) });
    await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-a", connectedAt: new Date(NOW - 2000) }); // logging in now
    expect(await findHousekeepingIssues(db, opts)).toEqual([]);
    const issues = await findHousekeepingIssues(db, cluster);
    expect(issues.map((i) => [i.kind, i.description])).toEqual([
      ["tunnel-online-no-location", `tunnel ${t} is marked online but no cluster node holds its connection: mark offline`],
    ]);
    // Its location appears before the fix (a slow login): left alone, not counted.
    await store(db).saveLocation(loc(t, "node-a"));
    expect(await fixHousekeepingIssues(db, { ...cluster, issues })).toBe(0);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.online);
    await store(db).clearLocation(t, "node-a", "e");
    expect(await fixHousekeepingIssues(db, cluster)).toBe(1);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.offline);
  });

  test("a location of a tunnel not marked online (a clear that failed) is removed after the login grace; one that came online meanwhile is kept", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 3000));
    const stale = await insertTunnel(db, { id: "b".repeat(32), state: TUNNEL_STATE.offline });
    const young = await insertTunnel(db, { state: TUNNEL_STATE.offline });
    await createClusterStore(db, { now: () => NOW - 30_000 }).saveLocation(loc(stale, "node-a"));
    await store(db).saveLocation(loc(young, "node-a")); // just written: a login in progress
    const issues = await findHousekeepingIssues(db, cluster);
    expect(issues.map((i) => [i.kind, i.description])).toEqual([["location-tunnel-offline", `node node-a holds a location of offline tunnel ${stale}: remove`]]);
    await db.update(tunnels).set({ state: TUNNEL_STATE.online, serverNode: "node-a" }).where(eq(tunnels.id, stale));
    expect(await fixHousekeepingIssues(db, { ...cluster, issues })).toBe(0);
    await db.update(tunnels).set({ state: TUNNEL_STATE.offline, serverNode: null }).where(eq(tunnels.id, stale));
    expect(await fixHousekeepingIssues(db, { ...cluster, issues })).toBe(1);
    expect((await store(db).locationStamps()).map((s) => s.tunnelId)).toEqual([young]);
  });

  test("a location fix leaves a newer login alone", async () => {
    const db = await memoryDb();
    await insertHeartbeat(db, "node-a", new Date(NOW - 3000));
    const t = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-dead" });
    await store(db).saveLocation(loc(t, "node-dead", "old"));
    const issues = await findHousekeepingIssues(db, cluster);
    expect(issues.map((i) => i.kind)).toEqual(["location-dead-node"]);
    await store(db).saveLocation(loc(t, "node-a", "new"));
    await db.update(tunnels).set({ serverNode: "node-a" }).where(eq(tunnels.id, t));
    expect(await fixHousekeepingIssues(db, { ...cluster, issues })).toBe(0);
    expect((await store(db).locationStamps()).map((s) => s.epoch)).toEqual(["new"]);
    expect(await stateOf(db, t)).toBe(TUNNEL_STATE.online);
  });
});
