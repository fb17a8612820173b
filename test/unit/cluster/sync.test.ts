// The sync loop over the store: remote routes and listener ports follow the locations,
// full rows are fetched only for changed stamps, and a local tunnel that logged in
// elsewhere since is disconnected here.
import { expect, test } from "bun:test";
import { createListenerPorts } from "../../../lib/cluster/listener-ports.ts";
import { RemoteTunnel } from "../../../lib/cluster/remote-routes.ts";
import { FakeLiveTunnel, httpRule, location, portRule, startCluster } from "./cluster-harness.ts";

const T1 = "1".repeat(32);
const T2 = "2".repeat(32);

test("sync adds remote routes and listeners for other nodes' tunnels, and removes them with the location", async () => {
  const c = startCluster();
  const a = c.node("a");
  c.node("b");
  await c.store.saveLocation(location(T1, "b", "e1", { https: [httpRule("one.test")], ports: [portRule(20001), portRule(20002, { private: true }), portRule(20003, { forwarded: false })] }));
  await c.syncAll(["a"]);

  const route = a.engine.routes.http("one.test");
  expect(route?.tunnel).toBeInstanceOf(RemoteTunnel);
  expect(route!.tunnel.tunnelId).toBe(T1);
  expect((route!.tunnel as RemoteTunnel).login).toEqual({ tunnelId: T1, userId: null, userName: "alice", hostname: `${T1}.host` });
  // Every node listens on every forwarded public port; a private (mesh-only) one is routed, never listened on.
  expect([...a.listening]).toEqual([20001]);
  expect(a.engine.routes.port(20002)?.rule.private).toBe(true);
  expect(a.engine.routes.port(20003)).toBeUndefined();

  // Unchanged stamps: no rows fetched again.
  const fetches = c.store.fetched.length;
  await c.syncAll(["a"]);
  expect(c.store.fetched.length).toBe(fetches);

  // A rules change on b: the new row is fetched, routes and listeners follow.
  const before = a.engine.remote.byId(T1);
  await c.store.saveLocation(location(T1, "b", "e1", { https: [httpRule("two.test")], ports: [portRule(20004)] }));
  await c.store.saveLocation(location(T2, "b", "e9", { ports: [portRule(20005)] }));
  await c.syncAll(["a"]);
  expect(c.store.fetched.at(-1)!.sort()).toEqual([T1, T2]);
  expect(a.engine.routes.http("one.test")).toBeUndefined();
  expect(a.engine.routes.http("two.test")?.tunnel.tunnelId).toBe(T1);
  expect([...a.listening].sort()).toEqual([20004, 20005]);
  // Same login, new rules: the same tunnel object (a keep-alive connection bound to it goes on).
  expect(a.engine.remote.byId(T1)).toBe(before!);
  // A newer login (another epoch) is another object, and streams name the new epoch.
  await c.store.saveLocation(location(T1, "b", "e2", { https: [httpRule("two.test")], ports: [portRule(20004)] }));
  await c.syncAll(["a"]);
  expect(a.engine.remote.byId(T1)).not.toBe(before!);
  expect(a.engine.remote.byId(T1)!.epoch).toBe("e2");
  expect([...a.listening].sort()).toEqual([20004, 20005]);

  // Offline on b: the location is cleared, so is everything here.
  await c.store.clearLocation(T1, "b", "e2");
  await c.syncAll(["a"]);
  expect(a.engine.routes.http("two.test")).toBeUndefined();
  expect(a.engine.remote.byId(T1)).toBeUndefined();
  expect([...a.listening]).toEqual([20005]);
  a.engine.stop();
});

test("this node's own locations are not routed as remote ones; local tunnels come first", async () => {
  const c = startCluster();
  const a = c.node("a");
  const t = new FakeLiveTunnel(T1, "e-a");
  a.addTunnel(t, { https: [httpRule("one.test")], ports: [portRule(20001)] });
  await c.store.saveLocation(location(T1, "a", "e-a", { https: [httpRule("one.test")], ports: [portRule(20001)] }));
  await c.syncAll(["a"]);
  expect(a.engine.remote.byId(T1)).toBeUndefined();
  expect(a.engine.routes.http("one.test")?.tunnel).toBe(t as never);
  expect([...a.listening]).toEqual([20001]);
  a.engine.stop();
});

test("a local tunnel whose location now names another node is disconnected: replaced by a connection there", async () => {
  const c = startCluster();
  const a = c.node("a");
  c.node("b");
  const t = new FakeLiveTunnel(T1, "e-a");
  a.addTunnel(t, { https: [], ports: [portRule(20001)] });
  await c.store.saveLocation(location(T1, "a", "e-a", { ports: [portRule(20001)] }));
  await c.syncAll(["a"]);
  expect(a.disconnected).toEqual([]);

  // The client logs in again on b (a newer login overwrites the location).
  await c.store.saveLocation(location(T1, "b", "e-b", { ports: [portRule(20001)] }));
  await c.syncAll(["a"]);
  expect(a.disconnected).toEqual([{ tunnelId: T1, reason: "replaced by a connection on node b" }]);
  // The port stays open here, now for the remote tunnel.
  expect([...a.listening]).toEqual([20001]);
  expect(a.engine.routes.port(20001)?.tunnel).toBeInstanceOf(RemoteTunnel);
  a.engine.stop();
});

test("a location older than the local login (its previous node, before this login's write lands) is not a reason to disconnect", async () => {
  const c = startCluster();
  const a = c.node("a");
  c.node("b");
  await c.store.saveLocation(location(T1, "b", "e-b", { ports: [portRule(20001)] }));
  await c.syncAll(["a"]);
  // The client moved to a; a's location write is still on its way.
  a.addTunnel(new FakeLiveTunnel(T1, "e-a"), { https: [], ports: [portRule(20001)] });
  await c.syncAll(["a"]);
  await c.syncAll(["a"]);
  expect(a.disconnected).toEqual([]);
  // It lands: routed locally, the remote route goes.
  await c.store.saveLocation(location(T1, "a", "e-a", { ports: [portRule(20001)] }));
  await c.syncAll(["a"]);
  expect(a.disconnected).toEqual([]);
  expect(a.engine.remote.byId(T1)).toBeUndefined();
  a.engine.stop();
});

test("a location written by another node while the local session is up, before its own write was seen, also disconnects it", async () => {
  const c = startCluster();
  const a = c.node("a");
  c.node("b");
  await c.store.saveLocation(location(T1, "c", "e-c"));
  a.addTunnel(new FakeLiveTunnel(T1, "e-a"));
  await c.syncAll(["a"]);
  await c.store.saveLocation(location(T1, "b", "e-b"));
  await c.syncAll(["a"]);
  expect(a.disconnected).toEqual([{ tunnelId: T1, reason: "replaced by a connection on node b" }]);
  a.engine.stop();
});

test("a failing store keeps the routes as last synced and logs once per streak", async () => {
  const c = startCluster();
  const a = c.node("a");
  c.node("b");
  await c.store.saveLocation(location(T1, "b", "e1", { https: [httpRule("one.test")] }));
  await c.syncAll(["a"]);
  c.store.failing = true;
  await a.engine.sync.sync();
  await a.engine.sync.sync();
  expect(a.engine.routes.http("one.test")).toBeDefined();
  expect(a.logs.filter((l) => l.startsWith("cluster sync failed: database unreachable")).length).toBe(1);
  c.store.failing = false;
  await a.engine.sync.sync();
  expect(a.logs.at(-1)).toBe("cluster sync works again");
  a.engine.stop();
});

test("listener ports are the union of local and remote ones; a port moving between them stays open", () => {
  const events: string[] = [];
  const ports = createListenerPorts((opened, closed) => void events.push(`+${opened.join(",")} -${closed.join(",")}`));
  ports.localChanged([1000, 1001], []);
  ports.setRemote(new Set([1001, 1002]));
  ports.localChanged([], [1001]);
  ports.setRemote(new Set([1002]));
  ports.localChanged([1002], []);
  ports.setRemote(new Set());
  ports.localChanged([], [1000, 1002]);
  expect(events).toEqual(["+1000,1001 -", "+1002 -", "+ -1001", "+ -1000,1002"]);
});
