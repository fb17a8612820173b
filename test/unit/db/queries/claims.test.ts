// Claims several nodes can make at once (cluster mode): HTTP domains and TCP ports are
// settled by unique keys in the database, so concurrent claims have exactly one winner,
// and a tunnel session ending on one node does not mark offline a tunnel now on another.
import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { allocatePort, claimDomain, markTunnelOffline, markTunnelOnline, saveAnnouncedServices } from "../../../../db/queries/live.ts";
import { httpServices, ports, TUNNEL_STATE, tunnels } from "../../../../db/schema.ts";
import { insertPort, insertTunnel, memoryDb } from "../../../db-fixtures.ts";

const holderOf = async (db: Awaited<ReturnType<typeof memoryDb>>, domain: string) =>
  (await db.select({ t: httpServices.tunnelId }).from(httpServices).where(eq(httpServices.domain, domain)))[0]?.t;

describe("domain claims", () => {
  test("twenty tunnels claiming one domain at once: exactly one wins and holds it", async () => {
    const db = await memoryDb();
    const ids = await Promise.all(Array.from({ length: 20 }, () => insertTunnel(db, { state: TUNNEL_STATE.online })));
    const won = await Promise.all(ids.map((id) => claimDomain(db, { id, userId: null }, "app.example.com")));
    expect(won.filter(Boolean).length).toBe(1);
    expect(await holderOf(db, "app.example.com")).toBe(ids[won.indexOf(true)]!);
    // The holder claims it again (a reconnect); the others still cannot.
    expect(await claimDomain(db, { id: ids[won.indexOf(true)]!, userId: null }, "app.example.com")).toBe(true);
    expect(await claimDomain(db, { id: ids[won.indexOf(false)]!, userId: null }, "app.example.com")).toBe(false);
  });

  test("a shut-down tunnel's domain is taken over by exactly one of several claimants", async () => {
    const db = await memoryDb();
    const old = await insertTunnel(db, { state: TUNNEL_STATE.online });
    expect(await claimDomain(db, { id: old, userId: null }, "shop.example.com")).toBe(true);
    await db.update(tunnels).set({ state: TUNNEL_STATE.shutdown }).where(eq(tunnels.id, old));
    const ids = await Promise.all(Array.from({ length: 10 }, () => insertTunnel(db, { state: TUNNEL_STATE.online })));
    const won = await Promise.all(ids.map((id) => claimDomain(db, { id, userId: null }, "shop.example.com")));
    expect(won.filter(Boolean).length).toBe(1);
    expect(await holderOf(db, "shop.example.com")).toBe(ids[won.indexOf(true)]!);
    expect((await db.select().from(httpServices)).length).toBe(1);
  });

  test("an offline (still active) tunnel keeps its domain; a deleted tunnel's row is free", async () => {
    const db = await memoryDb();
    const offline = await insertTunnel(db, { state: TUNNEL_STATE.offline });
    const other = await insertTunnel(db, { state: TUNNEL_STATE.online });
    expect(await claimDomain(db, { id: offline, userId: null }, "a.example.com")).toBe(true);
    expect(await claimDomain(db, { id: other, userId: null }, "a.example.com")).toBe(false);
    await db.update(tunnels).set({ state: TUNNEL_STATE.deleted }).where(eq(tunnels.id, offline));
    expect(await claimDomain(db, { id: other, userId: null }, "a.example.com")).toBe(true);
  });

  test("saving announced services never moves an active tunnel's domain to another tunnel", async () => {
    const db = await memoryDb();
    const holder = await insertTunnel(db, { state: TUNNEL_STATE.online });
    const late = await insertTunnel(db, { state: TUNNEL_STATE.online });
    await saveAnnouncedServices(db, { id: holder, userId: null }, [{ domain: "b.example.com", secure: true, available: true }], [], {});
    await saveAnnouncedServices(db, { id: late, userId: null }, [{ domain: "b.example.com", secure: false, available: true }], [], {});
    const rows = await db.select().from(httpServices);
    expect(rows.map((r) => [r.tunnelId, r.domain, r.secure])).toEqual([[holder, "b.example.com", true]]);
  });
});

describe("port allocation", () => {
  test("thirty tunnels allocating from a range of ten at once: every success holds a distinct port, none is handed out twice", async () => {
    const db = await memoryDb();
    const ids = await Promise.all(Array.from({ length: 30 }, () => insertTunnel(db)));
    const results = await Promise.all(ids.map((id) => allocatePort(db, { id, userId: null }, { begin: 30000, end: 30009 }, 5)));
    const wins = results.flatMap((r, i) => (r.ok ? [{ port: r.port, tunnelId: ids[i]! }] : []));
    expect(wins.length).toBeGreaterThan(0);
    expect(wins.length).toBeLessThanOrEqual(10);
    const rows = await db.select({ port: ports.port, tunnelId: ports.tunnelId }).from(ports).orderBy(ports.port);
    expect(rows).toEqual(wins.sort((a, b) => a.port - b.port));
    for (const r of results) if (!r.ok) expect(r.reason).toMatch(/no free port|try again/);
  });

  test("one tunnel allocating six ports at once with an allowance of two never ends up with more than two", async () => {
    const db = await memoryDb();
    const id = await insertTunnel(db);
    const results = await Promise.all(Array.from({ length: 6 }, () => allocatePort(db, { id, userId: null }, { begin: 30000, end: 30099 }, 2)));
    const held = await db.select().from(ports);
    expect(held.length).toBeLessThanOrEqual(2);
    expect(results.filter((r) => r.ok).map((r) => (r as { port: number }).port).sort()).toEqual(held.map((p) => p.port).sort());
    // Sequentially the allowance fills up and then refuses.
    while ((await db.select().from(ports)).length < 2) await allocatePort(db, { id, userId: null }, { begin: 30000, end: 30099 }, 2);
    expect(await allocatePort(db, { id, userId: null }, { begin: 30000, end: 30099 }, 2)).toEqual({ ok: false, reason: "tunnel already holds the maximum of 2 ports" });
  });
});

describe("offline on one node, online on another", () => {
  test("the old node's offline leaves the tunnel online on the new node, services active", async () => {
    const db = await memoryDb();
    const t = await insertTunnel(db);
    await insertPort(db, 30001, t);
    const info = { address: "1.2.3.4", os: "linux", arch: "x64", version: "1" };
    await markTunnelOnline(db, t, { ...info, node: "node-b" });
    // The client moved to node-a; then node-b notices its old session ended.
    await markTunnelOnline(db, t, { ...info, node: "node-a" });
    await db.update(ports).set({ active: true });
    await markTunnelOffline(db, t, "node-b");
    const [row] = await db.select().from(tunnels);
    expect([row!.state, row!.serverNode]).toEqual([TUNNEL_STATE.online, "node-a"]);
    expect((await db.select().from(ports))[0]!.active).toBe(true);
    // node-a's own offline does apply.
    await markTunnelOffline(db, t, "node-a");
    const [after] = await db.select().from(tunnels);
    expect([after!.state, after!.serverNode]).toEqual([TUNNEL_STATE.offline, null]);
    expect((await db.select().from(ports))[0]!.active).toBe(false);
  });
});
