import { expect, test } from "bun:test";
import { addBandwidth, bandwidthByTunnel, dayKey } from "../../../../db/queries/bandwidth.ts";
import { listPortAllocations } from "../../../../db/queries/ports.ts";
import { getTunnel, listTunnels, shutdownTunnel } from "../../../../db/queries/tunnels.ts";
import { createClusterStore } from "../../../../db/queries/cluster.ts";
import { searchTunnels } from "../../../../db/queries/tunnel-details.ts";
import { findOrCreateTunnelUser } from "../../../../db/queries/users.ts";
import { eq } from "drizzle-orm";
import { apikeys, ports, TUNNEL_STATE, tunnels } from "../../../../db/schema.ts";
import { insertPort, insertTunnel, memoryDb } from "../../../db-fixtures.ts";

const NOW = Date.parse("2030-03-20T17:28:00Z");
const MIN = 60_000;

test("dayKey is the UTC day", () => {
  expect(dayKey(Date.parse("2030-03-20T23:59:59Z"))).toBe("2030-03-20");
  expect(dayKey(new Date("2030-03-21T00:00:00Z"))).toBe("2030-03-21");
});

test("bandwidth: today and this month of the tunnel totals (service \"\"), both directions", async () => {
  const db = await memoryDb();
  const day = (d: string) => Date.parse(`${d}T12:00:00Z`);
  await addBandwidth(db, [
    { tunnelId: "t1", service: "", bytesIn: 100, bytesOut: 20, at: NOW },
    { tunnelId: "t1", service: "", bytesIn: 5, bytesOut: 0, at: NOW }, // adds to the same row
    { tunnelId: "t1", service: "", bytesIn: 1000, bytesOut: 0, at: day("2030-03-01") },
    { tunnelId: "t1", service: "", bytesIn: 99999, bytesOut: 0, at: day("2030-02-28") }, // last month
    { tunnelId: "t1", service: "app.example.com", bytesIn: 7, bytesOut: 7, at: NOW }, // per service, not the total
    { tunnelId: "t2", service: "", bytesIn: 0, bytesOut: 300, at: day("2030-03-02") },
  ]);
  const bw = await bandwidthByTunnel(db, { now: NOW });
  expect(bw.get("t1")).toEqual({ daily: 125, monthly: 1125 });
  expect(bw.get("t2")).toEqual({ daily: 0, monthly: 300 });
  expect((await bandwidthByTunnel(db, { now: NOW, service: "app.example.com" })).get("t1")).toEqual({ daily: 14, monthly: 14 });
});

test("listTunnels: active by default, --all adds shut-down, --online only online; never deleted", async () => {
  const db = await memoryDb();
  const at = (n: number) => new Date(NOW - 10 * MIN + n * 1000);
  const init = await insertTunnel(db, { state: TUNNEL_STATE.init, created: at(1) });
  const online = await insertTunnel(db, { state: TUNNEL_STATE.online, created: at(2) });
  const offline = await insertTunnel(db, { state: TUNNEL_STATE.offline, created: at(3) });
  const shut = await insertTunnel(db, { state: TUNNEL_STATE.shutdown, created: at(4) });
  await insertTunnel(db, { state: TUNNEL_STATE.deleted, created: at(5) });
  const ids = async (opts: Parameters<typeof listTunnels>[1]) => (await listTunnels(db, { now: NOW, ...opts })).map((t) => t.id);
  expect(await ids({})).toEqual([init, online, offline]);
  expect(await ids({ all: true })).toEqual([init, online, offline, shut]);
  expect(await ids({ online: true })).toEqual([online]);
  expect(await ids({ online: true, all: true })).toEqual([online]);
});

test("a tunnel in the API shape with online, user, uptime and bandwidth", async () => {
  const db = await memoryDb();
  const user = await findOrCreateTunnelUser(db, "ann@example.com");
  const created = new Date(NOW - 3 * 3600_000);
  const id = await insertTunnel(db, {
    state: TUNNEL_STATE.online,
    userId: user.id,
    hostname: "dev.example.com",
    address: "203.0.113.9",
    connectedAt: new Date(NOW - 3 * MIN - 5000),
    created,
  });
  await addBandwidth(db, [{ tunnelId: id, service: "", bytesIn: 1_000_000, bytesOut: 200_000, at: NOW }]);
  const t = await getTunnel(db, id, NOW);
  expect(t).toEqual({
    id,
    userID: user.id,
    created,
    lastActive: null,
    state: TUNNEL_STATE.online,
    uptime: 185,
    bandwidth: { daily: 1_200_000, monthly: 1_200_000 },
    name: "",
    hostname: "dev.example.com",
    address: "203.0.113.9",
    version: "",
    os: "",
    arch: "",
    online: true,
    user: "ann@example.com",
    node: "",
  });
  // JSON times are RFC 3339.
  expect(JSON.parse(JSON.stringify(t)).created).toBe(created.toISOString());
});

test("cluster mode: the node holding a tunnel's connection, in every listing", async () => {
  const db = await memoryDb();
  const held = await insertTunnel(db, { state: TUNNEL_STATE.online, serverNode: "node-b" });
  const free = await insertTunnel(db, { state: TUNNEL_STATE.offline });
  await createClusterStore(db).saveLocation({ tunnelId: held, nodeId: "node-b", epoch: "e", userId: null, hostname: "", https: [], ports: [] });
  const nodes = (list: { id: string; node: string }[]) => Object.fromEntries(list.map((t) => [t.id, t.node]));
  expect(nodes(await listTunnels(db, { now: NOW }))).toEqual({ [held]: "node-b", [free]: "" });
  expect(nodes(await searchTunnels(db, { now: NOW }))).toEqual({ [held]: "node-b", [free]: "" });
  expect((await getTunnel(db, held, NOW)).node).toBe("node-b");
});

test("uptime is 0 unless online; without connectedAt the server's stored uptime is used", async () => {
  const db = await memoryDb();
  const off = await insertTunnel(db, { state: TUNNEL_STATE.offline, uptime: 500, connectedAt: new Date(NOW - MIN) });
  const on = await insertTunnel(db, { state: TUNNEL_STATE.online, uptime: 42 });
  expect((await getTunnel(db, off, NOW)).uptime).toBe(0);
  expect((await getTunnel(db, on, NOW)).uptime).toBe(42);
});

test("getTunnel: unknown, deleted and malformed ids", async () => {
  const db = await memoryDb();
  const deleted = await insertTunnel(db, { state: TUNNEL_STATE.deleted });
  await expect(getTunnel(db, deleted)).rejects.toThrow(`no tunnel with id ${deleted}`);
  await expect(getTunnel(db, "d".repeat(32))).rejects.toThrow("no tunnel with id");
  await expect(getTunnel(db, "zz")).rejects.toThrow('malformed tunnel id "zz"');
});

test("shutdownTunnel deactivates its token, sets state 4 and releases its ports", async () => {
  const db = await memoryDb();
  const id = await insertTunnel(db, { state: TUNNEL_STATE.online });
  await insertPort(db, 30010, id);
  await shutdownTunnel(db, id);
  expect((await getTunnel(db, id)).state).toBe(TUNNEL_STATE.shutdown);
  expect((await db.select().from(apikeys)).map((k) => k.active)).toEqual([false]);
  expect(await db.select().from(ports)).toEqual([]);
});

test("listPortAllocations: by port, with the owning tunnel's user, state, uptime and bandwidth", async () => {
  const db = await memoryDb();
  const user = await findOrCreateTunnelUser(db, "bob@example.com");
  const on = await insertTunnel(db, { state: TUNNEL_STATE.online, userId: user.id, connectedAt: new Date(NOW - 2 * 3600_000) });
  const off = await insertTunnel(db, { state: TUNNEL_STATE.offline });
  await insertPort(db, 30005, off);
  await insertPort(db, 30001, on, user.id);
  await insertPort(db, 30009, "e".repeat(32)); // an orphan still lists
  await addBandwidth(db, [{ tunnelId: on, service: "", bytesIn: 2500, bytesOut: 0, at: NOW }]);
  // Mesh access comes from the configuration the tunnel last announced.
  const announced = { ports: [{ port: 30001, destination: "127.0.0.1", dstPort: 6379, firewall: [], private: true, meshAllow: ["user:ann"] }] };
  await db.update(tunnels).set({ config: JSON.stringify(announced) }).where(eq(tunnels.id, on));
  const open = { private: false, meshAllow: [] };
  expect(await listPortAllocations(db, { now: NOW })).toEqual([
    { port: 30001, tunID: on, user: "bob@example.com", online: true, uptime: 7200, bandwidth: { daily: 2500, monthly: 2500 }, private: true, meshAllow: ["user:ann"] },
    { port: 30005, tunID: off, user: "", online: false, uptime: 0, bandwidth: { daily: 0, monthly: 0 }, ...open },
    { port: 30009, tunID: "e".repeat(32), user: "", online: false, uptime: 0, bandwidth: { daily: 0, monthly: 0 }, ...open },
  ]);
});
