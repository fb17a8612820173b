// The last 30 days of bandwidth (the dashboard charts) and the monitoring state of
// services; runs on SQLite and, in the second pass of npm test, on PostgreSQL.
import { expect, test } from "bun:test";
import { addBandwidth, dailyBandwidth } from "../../../../db/queries/bandwidth.ts";
import { saveAnnouncedServices, saveServiceAvailability, writeTrafficBatch } from "../../../../db/queries/live.ts";
import { listTunnelPorts } from "../../../../db/queries/ports.ts";
import { listHttpServices } from "../../../../db/queries/tunnel-details.ts";
import { connections, TUNNEL_STATE } from "../../../../db/schema.ts";
import { insertPort, insertTunnel, memoryDb } from "../../../db-fixtures.ts";

const NOW = Date.parse("2030-03-20T17:28:00Z");
const at = (day: string) => Date.parse(`${day}T12:00:00Z`);

test("dailyBandwidth: 30 days ending today, zero-filled, tunnel totals of one tunnel or all", async () => {
  const db = await memoryDb();
  await addBandwidth(db, [
    { tunnelId: "t1", service: "", bytesIn: 100, bytesOut: 20, at: NOW },
    { tunnelId: "t2", service: "", bytesIn: 1, bytesOut: 2, at: NOW },
    { tunnelId: "t1", service: "", bytesIn: 7, bytesOut: 0, at: at("2030-02-19") }, // the first of the 30 days
    { tunnelId: "t1", service: "", bytesIn: 9999, bytesOut: 0, at: at("2030-02-18") }, // one day too old
    { tunnelId: "t1", service: "app.example.com", bytesIn: 555, bytesOut: 555, at: NOW }, // per service: not a total
    { tunnelId: "t2", service: "", bytesIn: 0, bytesOut: 300, at: at("2030-03-02") },
  ]);
  const all = await dailyBandwidth(db, { now: NOW });
  expect(all).toHaveLength(30);
  expect(all[0]).toEqual({ day: "2030-02-19", bytesIn: 7, bytesOut: 0 });
  expect(all.at(-1)).toEqual({ day: "2030-03-20", bytesIn: 101, bytesOut: 22 });
  expect(all.find((d) => d.day === "2030-03-02")).toEqual({ day: "2030-03-02", bytesIn: 0, bytesOut: 300 });
  expect(all.filter((d) => d.bytesIn + d.bytesOut > 0).map((d) => d.day)).toEqual(["2030-02-19", "2030-03-02", "2030-03-20"]);
  expect(new Set(all.map((d) => d.day)).size).toBe(30);

  const one = await dailyBandwidth(db, { tunnelId: "t2", now: NOW, days: 7 });
  expect(one.map((d) => d.day)).toEqual(["2030-03-14", "2030-03-15", "2030-03-16", "2030-03-17", "2030-03-18", "2030-03-19", "2030-03-20"]);
  expect(one.at(-1)).toEqual({ day: "2030-03-20", bytesIn: 1, bytesOut: 2 });
  expect(one.slice(0, 6).every((d) => d.bytesIn === 0 && d.bytesOut === 0)).toBe(true);
});

test("monitoring reports set each service's availability and the time of the check", async () => {
  const db = await memoryDb();
  const id = await insertTunnel(db, { state: TUNNEL_STATE.online });
  await insertPort(db, 30001, id);
  await saveAnnouncedServices(db, { id, userId: null }, [{ domain: "app.example.com", secure: true, available: true }], [{ port: 30001, available: true }], {});
  expect((await listHttpServices(db, [id]))[0]).toMatchObject({ available: true, lastCheck: null });
  expect((await listTunnelPorts(db, id))[0]).toMatchObject({ available: true, lastCheck: null });

  const checked = new Date(NOW);
  await saveServiceAvailability(db, id, [{ kind: "http", name: "app.example.com", available: false }, { kind: "tcp", name: "30001", available: true }], checked);
  expect((await listHttpServices(db, [id]))[0]).toMatchObject({ available: false, lastCheck: checked });
  expect((await listTunnelPorts(db, id))[0]).toMatchObject({ available: true, lastCheck: checked });
});

test("a traffic batch of 450 finished connections is written whole, each row as recorded", async () => {
  const db = await memoryDb();
  const batch = Array.from({ length: 450 }, (_, i) => ({
    tunnelId: i % 2 ? "t1" : "t2",
    service: String(10_000 + i),
    protocol: "tcp" as const,
    remoteAddress: `192.0.2.${i % 250}`,
    bytesIn: i,
    bytesOut: 2 * i,
    started: NOW + i,
    durationMs: 3 * i,
  }));
  await writeTrafficBatch(db, { bandwidth: [], connections: batch });
  const rows = await db.select().from(connections);
  expect(rows).toHaveLength(450);
  expect(new Set(rows.map((r) => r.id)).size).toBe(450);
  const byService = new Map(rows.map((r) => [r.service, r]));
  for (const c of [batch[0]!, batch[199]!, batch[200]!, batch[449]!]) {
    const r = byService.get(c.service)!;
    expect({ ...r, id: undefined, started: r.started.getTime() }).toEqual({ ...c, id: undefined });
  }
});
