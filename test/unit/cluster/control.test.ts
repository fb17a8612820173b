// An admin's actions on a tunnel held by another node, over the peer link: remote changes
// go to the holder's client and come back with its answer; a disconnect reaches whichever
// node holds the tunnel.
import { expect, test } from "bun:test";
import { waitFor } from "../../helpers.ts";
import { T1, twoLinkedNodes } from "./cluster-harness.ts";

const until = <T>(check: () => T, what: string) => waitFor(check, what, 5_000, 1);

test("a remote change made at node A is applied by the client on node B, and its answer comes back", async () => {
  const { c, tunnel } = await twoLinkedNodes();
  const remote = c.nodes.get("a")!.engine.remote.byId(T1)!;
  expect(await remote.applyChange({ kind: "tcp/add", port: 20002 })).toEqual({ ok: true });
  expect(tunnel.changes).toEqual([{ kind: "tcp/add", port: 20002 }]);
  tunnel.answer = async () => ({ ok: false, error: "port 20002 is in use on the client" });
  expect(await remote.applyChange({ kind: "tcp/add", port: 20002 })).toEqual({ ok: false, error: "port 20002 is in use on the client" });
  c.nodes.forEach((n) => n.engine.stop());
});

test("a change routed by an older login, or with no link to the holder, or unanswered, fails with a reason", async () => {
  const { c, tunnel } = await twoLinkedNodes();
  const a = c.nodes.get("a")!;
  expect(await a.engine.links.applyChange("b", T1, "epoch-0", { kind: "x" })).toEqual({ ok: false, error: "tunnel is offline" });
  expect(tunnel.changes).toEqual([]);
  expect(await a.engine.links.applyChange("z", T1, "epoch-1", { kind: "x" })).toEqual({ ok: false, error: "no peer link to node z, which holds the tunnel" });

  tunnel.answer = () => new Promise(() => {});
  const pending = a.engine.links.applyChange("b", T1, "epoch-1", { kind: "x" });
  await until(() => tunnel.changes.length === 1, "the change at b");
  a.clock.advance(20_000);
  expect(await pending).toEqual({ ok: false, error: "node b did not answer in time" });
  c.nodes.forEach((n) => n.engine.stop());
});

test("disconnect everywhere reaches the node holding the tunnel; other nodes ignore it", async () => {
  const { c } = await twoLinkedNodes();
  const third = c.node("c");
  await c.syncAll();
  const a = c.nodes.get("a")!;
  await until(() => a.engine.links.connectedNodes().length === 2, "a linked to b and c");
  a.engine.links.disconnectEverywhere(T1, "tunnel shut down by an admin");
  const b = c.nodes.get("b")!;
  await until(() => b.disconnected.length === 1, "the disconnect at b");
  expect(b.disconnected).toEqual([{ tunnelId: T1, reason: "tunnel shut down by an admin" }]);
  expect(third.disconnected).toEqual([]);
  c.nodes.forEach((n) => n.engine.stop());
});
