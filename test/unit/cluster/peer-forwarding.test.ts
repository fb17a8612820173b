// Streams through a peer hop: a RemoteTunnel at node A opens a peer stream to node B,
// which pipes it into its local tunnel; flow control holds end to end.
import { expect, test } from "bun:test";
import { RemoteTunnel } from "../../../lib/cluster/remote-routes.ts";
import type { MuxStream } from "../../../lib/mux/stream.ts";
import { waitFor } from "../../helpers.ts";
import { T1, location, readAll, startCluster, twoLinkedNodes as twoNodes } from "./cluster-harness.ts";

const until = <T>(check: () => T, what: string) => waitFor(check, what, 5_000, 1);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

test("a visitor's stream at A reaches B's tunnel with its meta, and bytes flow both ways", async () => {
  const { c, tunnel } = await twoNodes();
  const a = c.nodes.get("a")!;
  const route = a.engine.routes.http("app.test");
  expect(route?.tunnel).toBeInstanceOf(RemoteTunnel);
  expect((route!.tunnel as RemoteTunnel).nodeId).toBe("b");
  expect(route!.rule.domain).toBe("app.test");

  const visitor = route!.tunnel.openStream({ t: "http", d: "app.test", r: "203.0.113.9", s: true });
  visitor.write(bytes("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"));
  visitor.end();
  const atClient = await until(() => tunnel.client.streams[0], "the stream at B's tunnel client");
  expect(atClient.meta).toEqual({ t: "http", d: "app.test", r: "203.0.113.9", s: true });
  const request = readAll(atClient.stream);
  expect(text(await request)).toBe("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");

  const response = readAll(visitor);
  atClient.stream.write(bytes("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
  atClient.stream.end();
  expect(text(await response)).toBe("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");

  // The TCP port route goes the same way, with its own meta.
  const tcp = a.engine.routes.port(20001)!.tunnel.openStream({ t: "tcp", p: 20001, r: "203.0.113.10" });
  tcp.write(bytes("ping"));
  const second = await until(() => tunnel.client.streams[1], "the TCP stream at B");
  expect(second.meta).toEqual({ t: "tcp", p: 20001, r: "203.0.113.10" });
  const got: string[] = [];
  second.stream.ondata = (b) => void got.push(text(b));
  await until(() => got.join("") === "ping", "tcp bytes at B");
  tcp.reset();
  c.nodes.forEach((n) => n.engine.stop());
});

test("a stream routed by a stale epoch or to an unknown tunnel is reset at the holder", async () => {
  const { c, tunnel } = await twoNodes();
  const a = c.nodes.get("a")!;
  const closed = (s: MuxStream) => new Promise<unknown>((resolve) => (s.onclose = (err) => resolve(err)));

  const stale = a.engine.links.openStream("b", { t: "peer", id: T1, e: "epoch-0", m: { t: "tcp", p: 20001, r: "203.0.113.9" } });
  expect(await closed(stale)).toBeDefined();
  const unknown = a.engine.links.openStream("b", { t: "peer", id: "9".repeat(32), m: { t: "tcp", p: 20001, r: "203.0.113.9" } });
  expect(await closed(unknown)).toBeDefined();
  // Without an epoch the holder takes any login of the tunnel.
  a.engine.links.openStream("b", { t: "peer", id: T1, m: { t: "tcp", p: 20001, r: "203.0.113.9" } });
  await until(() => tunnel.client.streams.length === 1, "the epoch-less stream at B");
  expect(tunnel.client.streams.length).toBe(1);
  c.nodes.forEach((n) => n.engine.stop());
});

test("a never-reading stream beside a bulk one stays bounded by the credit windows, and the bulk one completes", async () => {
  const { c, tunnel } = await twoNodes();
  const a = c.nodes.get("a")!;
  const remote = a.engine.routes.port(20001)!.tunnel;
  // The tunnel's client never reads the first stream; it counts what arrives on the second.
  let bulkReceived = 0;
  let bulkEnded = false;
  tunnel.client.onStream = (stream, meta) => {
    if (meta.r !== "bulk") return;
    stream.ondata = (b) => void (bulkReceived += b.length);
    stream.onend = () => void (bulkEnded = true);
  };
  const stuck = remote.openStream({ t: "tcp", p: 20001, r: "stuck" });
  const bulk = remote.openStream({ t: "tcp", p: 20001, r: "bulk" });

  // A writer that honours back-pressure: it writes while write() says yes, then waits for drain.
  const chunk = new Uint8Array(64 * 1024).fill(7);
  let stuckAccepted = 0;
  const feedStuck = () => {
    while (stuckAccepted < 256 * 1024 * 1024) {
      stuckAccepted += chunk.length;
      if (!stuck.write(chunk)) return;
    }
  };
  stuck.ondrain = feedStuck;
  feedStuck();

  const total = 32 * 1024 * 1024;
  let sent = 0;
  const feedBulk = () => {
    while (sent < total) {
      sent += chunk.length;
      if (!bulk.write(chunk)) return;
    }
    bulk.end();
  };
  bulk.ondrain = feedBulk;
  feedBulk();

  await waitFor(() => bulkEnded, "the bulk stream's end at B", 30_000, 1);
  expect(bulkReceived).toBe(total);
  // What the stuck stream could push: its write buffer at A, the peer stream's window, the
  // holder's buffer toward the tunnel, the tunnel stream's window (256 KiB each), plus a chunk.
  const bound = 4 * 256 * 1024 + 2 * chunk.length;
  expect(stuckAccepted).toBeLessThanOrEqual(bound);
  const atClient = tunnel.client.streams.find((s) => s.meta.r === "stuck")!;
  expect(atClient.stream.readableLength).toBeLessThanOrEqual(256 * 1024);
  stuck.reset();
  c.nodes.forEach((n) => n.engine.stop());
});

test("when the peer link is lost, RemoteTunnel.openStream throws; the dialer reconnects with backoff", async () => {
  const { c } = await twoNodes();
  const a = c.nodes.get("a")!;
  const b = c.nodes.get("b")!;
  const remote = a.engine.routes.http("app.test")!.tunnel;
  // Both directions of the link go down (B's link to A would otherwise carry A's streams).
  a.dialled.get("b")!.abort();
  b.dialled.get("a")!.abort();
  await until(() => a.engine.links.connectedNodes().length === 0, "a has no link");
  expect(() => remote.openStream({ t: "tcp", p: 20001, r: "x" })).toThrow(/no peer link to node b/);
  expect(a.logs.some((l) => l.includes("peer link to node b (b.test:443) closed"))).toBe(true);

  a.clock.advance(10_000);
  await until(() => a.engine.links.connectedNodes().includes("b"), "a's link to b again");
  expect(() => remote.openStream({ t: "tcp", p: 20001, r: "x" })).not.toThrow();
  c.nodes.forEach((n) => n.engine.stop());
});

test("a node that leaves the live list is no longer dialled or routed to", async () => {
  const { c } = await twoNodes();
  const a = c.nodes.get("a")!;
  const remote = a.engine.routes.http("app.test")!.tunnel;
  c.store.now += 11_000;
  await c.syncAll(["a"]);
  expect(a.engine.links.connectedNodes()).toEqual([]);
  expect(() => remote.openStream({ t: "tcp", p: 20001, r: "x" })).toThrow();
  expect(a.logs.some((l) => l.includes("cluster node b left"))).toBe(true);
  c.nodes.forEach((n) => n.engine.stop());
});

test("a silent peer (network partition) is found dead by the link's keepalive, and the link is dialled again", async () => {
  const c = startCluster();
  const keepalive = { intervalMs: 1_000, timeoutMs: 3_000 };
  const a = c.node("a", { keepalive });
  c.node("b", { keepalive });
  await c.store.saveLocation(location(T1, "b", "e1"));
  await c.syncAll();
  await until(() => a.engine.links.connectedNodes().includes("b"), "a's link to b");
  const first = a.dialled.get("b")!;
  // Nothing gets through either way any more, and no close is seen.
  first.partition();
  c.nodes.get("b")!.dialled.get("a")!.partition();
  a.clock.advance(3_500);
  await until(() => a.logs.some((l) => l.startsWith("cluster peer link to node b (b.test:443) closed")), "the dead link noticed");
  a.clock.advance(5_000);
  await until(() => a.dialled.get("b") !== first && a.engine.links.connectedNodes().includes("b"), "a new link to b");
  expect(() => a.engine.links.openStream("b", { t: "peer", id: T1, m: { t: "tcp", p: 1, r: "x" } })).not.toThrow();
  c.nodes.forEach((n) => n.engine.stop());
});
