// Admin control across the cluster: node A answers for a tunnel node B holds (online, rules
// from its location) and forwards config reads, remote changes and disconnects to B, which
// runs them on its own control; a holder that is gone or silent gives a clear error.
import { expect, test } from "bun:test";
import { createClusterLive, parseLiveRequest, sendLiveRequest, type ApplyResult, type LiveControl } from "../../../lib/cluster/live-control.ts";
import { createMemoryTransportPair } from "../../../lib/mux/memory-transport.ts";
import { createMuxSession } from "../../../lib/mux/session.ts";
import { FakeClock } from "../tunnel/fake-clock.ts";
import { waitFor } from "../../helpers.ts";
import { T1, twoLinkedNodes } from "./cluster-harness.ts";

const until = (check: () => unknown) => waitFor(check, "the holder's side", 5_000, 1);

const CONFIG = { https: [{ domain: "app.test", destination: "127.0.0.1", http: 8080 }], ports: [] };

/** B's own control of its tunnels, as edge-server.ts builds it over the tunnel server. */
class FakeLocalControl implements LiveControl {
  online = new Set<string>([T1]);
  applied: unknown[] = [];
  disconnected: { id: string; reason: string }[] = [];
  answer: (change: unknown) => Promise<ApplyResult> = async () => ({ ok: true });
  isOnline = (id: string) => this.online.has(id);
  announced = (id: string) => (this.online.has(id) ? { https: CONFIG.https, ports: [] } : undefined);
  disconnect = (id: string, reason: string) => void this.disconnected.push({ id, reason });
  tunnel = (id: string) => (this.online.has(id) ? { config: CONFIG } : undefined);
  applyChange = (id: string, change: unknown) => {
    this.applied.push({ id, change });
    return this.answer(change);
  };
}

const setup = async () => {
  const aLocal = new FakeLocalControl();
  aLocal.online.clear();
  const bLocal = new FakeLocalControl();
  const { c } = await twoLinkedNodes({ a: { live: aLocal }, b: { live: bLocal } });
  const a = c.nodes.get("a")!;
  return { c, a, b: c.nodes.get("b")!, live: a.engine.live!, aLocal, bLocal, stop: () => c.nodes.forEach((n) => n.engine.stop()) };
};

test("a tunnel held by B shows online at A with the rules of its location, and its config is read from B", async () => {
  const { live, stop } = await setup();
  expect(live.isOnline(T1)).toBe(true);
  expect(live.announced(T1)?.https).toEqual([expect.objectContaining({ domain: "app.test" })]);
  expect(live.announced(T1)?.ports).toEqual([expect.objectContaining({ port: 20001 })]);
  expect(await live.tunnel(T1)).toEqual({ config: CONFIG });
  // A tunnel nobody holds.
  const other = "2".repeat(32);
  expect(live.isOnline(other)).toBe(false);
  expect(live.announced(other)).toBeUndefined();
  expect(await live.tunnel(other)).toBeUndefined();
  expect(await live.applyChange(other, { kind: "tcp/add", port: 1 })).toEqual({ ok: false, error: "tunnel is offline" });
  stop();
});

test("a change made at A is applied by B's control and its answer comes back; a refusal keeps the client's reason", async () => {
  const { live, aLocal, bLocal, stop } = await setup();
  const change = { kind: "http/update", sites: [{ domain: "new.test", destination: "127.0.0.1", http: 9090 }] };
  expect(await live.applyChange(T1, change)).toEqual({ ok: true });
  expect(bLocal.applied).toEqual([{ id: T1, change }]);
  expect(aLocal.applied).toEqual([]);

  bLocal.answer = async () => ({ ok: false, error: "port 9090 is in use" });
  expect(await live.applyChange(T1, change)).toEqual({ ok: false, error: "port 9090 is in use" });
  // B lost the tunnel meanwhile (its location not yet gone).
  bLocal.online.clear();
  expect(await live.applyChange(T1, change)).toEqual({ ok: false, error: "tunnel is offline" });
  stop();
});

test("a disconnect at A reaches B's control with its reason", async () => {
  const { live, aLocal, bLocal, stop } = await setup();
  live.disconnect(T1, "tunnel shut down by an admin");
  expect(aLocal.disconnected).toEqual([{ id: T1, reason: "tunnel shut down by an admin" }]);
  await until(() => bLocal.disconnected.length);
  expect(bLocal.disconnected).toEqual([{ id: T1, reason: "tunnel shut down by an admin" }]);
  stop();
});

test("a disconnect is asked of every linked node: a client may be connected where no location names it yet", async () => {
  const bLocal = new FakeLocalControl();
  const { c } = await twoLinkedNodes({ a: { live: new FakeLocalControl() }, b: { live: bLocal } });
  const cLocal = new FakeLocalControl();
  c.node("c", { live: cLocal });
  await c.syncAll();
  const a = c.nodes.get("a")!;
  await until(() => a.engine.links.connectedNodes().length === 2);
  const fresh = "4".repeat(32);
  a.engine.live!.disconnect(fresh, "auth token deactivated");
  await until(() => bLocal.disconnected.length === 1 && cLocal.disconnected.length === 1);
  expect(bLocal.disconnected).toEqual([{ id: fresh, reason: "auth token deactivated" }]);
  expect(cLocal.disconnected).toEqual([{ id: fresh, reason: "auth token deactivated" }]);
  c.nodes.forEach((n) => n.engine.stop());
});

test("a holder with no link gives a clear error, not a hang", async () => {
  const { live, a, b, stop } = await setup();
  b.engine.stop();
  await until(() => !(a.engine.links.connectedNodes().includes("b")));
  const r = await live.applyChange(T1, { kind: "tcp/add", port: 20002 });
  expect(r).toEqual({ ok: false, error: "node b holding the tunnel did not answer: no peer link to node b" });
  expect(await live.tunnel(T1)).toBeUndefined();
  stop();
});

test("a holder that does not answer in time: the change fails after the timeout", async () => {
  const { live, a, bLocal, stop } = await setup();
  bLocal.answer = () => new Promise(() => {});
  let result: ApplyResult | undefined;
  void live.applyChange(T1, { kind: "tcp/add", port: 20002 }).then((r) => (result = r));
  await until(() => bLocal.applied.length);
  a.clock.advance(19_999);
  await Bun.sleep(5);
  expect(result).toBeUndefined();
  a.clock.advance(1);
  await Bun.sleep(5);
  expect(result).toEqual({ ok: false, error: "node b holding the tunnel did not answer: no answer within 20 s" });
  stop();
});

test("a peer link cut while waiting ends the request with an error", async () => {
  const { live, a, bLocal, stop } = await setup();
  bLocal.answer = () => new Promise(() => {});
  const pending = live.applyChange(T1, { kind: "tcp/add", port: 20002 });
  await until(() => bLocal.applied.length);
  a.dialled.get("b")!.close(1001, "gone");
  const r = await pending;
  expect(r.ok).toBe(false);
  expect(r.ok ? "" : r.error).toStartWith("node b holding the tunnel did not answer: ");
  stop();
});

test("a reply larger than the bound is refused; malformed requests parse to nothing", async () => {
  const clock = new FakeClock();
  const [x, y] = createMemoryTransportPair();
  const asker = createMuxSession({ transport: x, side: "client", keepalive: false });
  createMuxSession({
    transport: y,
    side: "server",
    keepalive: false,
    onStream: (s) => {
      s.write(new Uint8Array((1 << 20) + 10).fill(32));
      s.end();
    },
  });
  const r = await sendLiveRequest(() => asker.openStream(new TextEncoder().encode("{}")), 5_000, clock);
  expect(r).toEqual({ ok: false, error: `the reply exceeds ${1 << 20} bytes`, unanswered: true });
  expect(parseLiveRequest({ t: "live", id: T1, op: "apply" })).toBeUndefined();
  expect(parseLiveRequest({ t: "live", id: T1, op: "format-disk" })).toBeUndefined();
  expect(parseLiveRequest({ t: "peer", id: T1, op: "config" })).toBeUndefined();
  expect(parseLiveRequest({ t: "live", id: T1, op: "disconnect", reason: "x".repeat(2000) })).toEqual({ t: "live", id: T1, op: "disconnect", reason: "x".repeat(500) });
});

test("a local tunnel is served by the node's own control, whatever the locations say", async () => {
  const local = new FakeLocalControl();
  const live = createClusterLive({
    nodeId: "a",
    local,
    remote: () => ({ nodeId: "b", https: [], ports: [] }),
    linkedNodes: () => ["b"],
    request: async () => ({ ok: false, error: "must not be asked" }),
    log: { warn: () => {} },
  });
  expect(await live.applyChange(T1, { kind: "tcp/add", port: 1 })).toEqual({ ok: true });
  expect(await live.tunnel(T1)).toEqual({ config: CONFIG });
  expect(live.announced(T1)).toEqual({ https: CONFIG.https, ports: [] });
});

test("a holder that takes no admin requests resets them: a clear error at the asker", async () => {
  const { c } = await twoLinkedNodes({ a: { live: new FakeLocalControl() } });
  const live = c.nodes.get("a")!.engine.live!;
  const other = "3".repeat(32);
  await c.store.saveLocation({ tunnelId: other, nodeId: "b", epoch: "e", userId: null, hostname: "h", https: [], ports: [] });
  await c.syncAll();
  const r = await live.applyChange(other, { kind: "tcp/add", port: 1 });
  expect(r.ok).toBe(false);
  expect(r.ok ? "" : r.error).toStartWith("node b holding the tunnel did not answer: the request was cut");
  c.nodes.forEach((n) => n.engine.stop());
});
