// A finished connection is recorded once and its bytes land in its tunnel's bandwidth,
// on the side the tunnel was on.
import { expect, test } from "bun:test";
import { createTrafficStats, type FinishedConnection } from "../../../lib/stats/traffic-stats.ts";

const T = "t".repeat(32);
const DAY = Date.UTC(2026, 11, 5, 12);
const conn = (over: Partial<FinishedConnection>): FinishedConnection => ({
  tunnelId: T,
  service: "app.example.com",
  protocol: "https",
  remoteAddress: "198.51.100.7",
  bytesIn: 100,
  bytesOut: 2_000,
  started: DAY - 1_500,
  ...over,
});

test("a connection the tunnel served counts under its service and the tunnel's total, as the visitor sent and received", () => {
  const stats = createTrafficStats(() => DAY);
  stats.recordConnection(conn({}));
  stats.recordConnection(conn({ protocol: "tcp", service: "22001", bytesIn: 7, bytesOut: 3 }));
  const batch = stats.drain();
  expect(batch.bandwidth).toEqual([
    { tunnelId: T, service: "app.example.com", day: "2026-12-05", bytesIn: 100, bytesOut: 2_000 },
    { tunnelId: T, service: "", day: "2026-12-05", bytesIn: 107, bytesOut: 2_003 },
    { tunnelId: T, service: "22001", day: "2026-12-05", bytesIn: 7, bytesOut: 3 },
  ]);
  expect(batch.connections).toHaveLength(2);
  expect(batch.connections[0]).toEqual({ ...conn({}), durationMs: 1_500 });
});

test("a connection the tunnel opened (mesh, SOCKS with its token) counts under mesh/socks from the tunnel's side", () => {
  const stats = createTrafficStats(() => DAY);
  stats.recordConnection(conn({ protocol: "mesh", service: "10.0.0.5:6379", bytesIn: 10, bytesOut: 900, durationMs: 42 }));
  stats.recordConnection(conn({ protocol: "socks", service: "db.internal:5432", bytesIn: 20, bytesOut: 800 }));
  const batch = stats.drain();
  expect(batch.bandwidth.filter((b) => b.service !== "")).toEqual([
    { tunnelId: T, service: "mesh", day: "2026-12-05", bytesIn: 900, bytesOut: 10 },
    { tunnelId: T, service: "socks", day: "2026-12-05", bytesIn: 800, bytesOut: 20 },
  ]);
  expect(stats.pendingFor(T)).toEqual({ bytesIn: 0, bytesOut: 0 }); // drained
  expect(batch.connections.map((c) => [c.protocol, c.bytesIn, c.bytesOut, c.durationMs])).toEqual([
    ["mesh", 10, 900, 42],
    ["socks", 20, 800, 1_500],
  ]);
});

test("an anonymous SOCKS session is recorded without bandwidth; an empty connection adds no bandwidth row", () => {
  const stats = createTrafficStats(() => DAY);
  stats.recordConnection(conn({ tunnelId: "", protocol: "socks", service: "a:1" }));
  stats.recordConnection(conn({ bytesIn: 0, bytesOut: 0 }));
  const batch = stats.drain();
  expect(batch.bandwidth).toEqual([]);
  expect(batch.connections).toHaveLength(2);
});
