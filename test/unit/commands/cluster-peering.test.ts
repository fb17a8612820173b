// The cluster wiring of a server: the peer endpoint beside the tunnel endpoints at the
// front door, and the peer metrics in the Prometheus registry.
import { expect, test } from "bun:test";
import { startClusterPeering } from "../../../commands/_serve/cluster.ts";
import { createServerMetrics } from "../../../commands/_serve/metrics.ts";
import { createListenerPorts } from "../../../lib/cluster/listener-ports.ts";
import { CLUSTER_PEER_PATH } from "../../../lib/cluster/types.ts";
import { TUNNEL_CONTROL_PATH } from "../../../lib/client-api/paths.ts";
import type { TunnelServer } from "../../../lib/tunnel/server/server.ts";
import { createTunnelRegistry } from "../../../lib/tunnel/server/registry.ts";
import { FakeClusterStore } from "../cluster/cluster-harness.ts";
import { waitFor } from "../../helpers.ts";

const SECRET = "the-cluster-secret-0123456789";

test("the front door admits peer links and still passes tunnel upgrades to the tunnel server; peer metrics are exported", async () => {
  const tunnelAdmits: string[] = [];
  const tunnels = {
    registry: createTunnelRegistry(),
    admit: async (req: { url: URL }) => (tunnelAdmits.push(req.url.pathname), { refuse: new Response("tunnel", { status: 401 }) }),
    disconnect: () => {},
  } as unknown as TunnelServer;
  const metrics = createServerMetrics({ tunnelsByState: async () => ({}), connectedTunnels: () => 0, openStreams: () => 0, peerSessions: () => 2 });
  const peering = startClusterPeering({
    settings: { nodeId: "a", advertise: "127.0.0.1:1", secret: SECRET },
    store: new FakeClusterStore(),
    tunnels,
    listenerPorts: createListenerPorts(() => {}),
    metrics,
    log: { info: () => {}, warn: () => {} },
  });
  try {
    const upgrade = (path: string, auth: string) => ({
      url: new URL(`https://spokes.test${path}`),
      header: (n: string) => ({ upgrade: "websocket", authorization: `Bearer ${auth}`, "x-spokes-node": "b" })[n.toLowerCase() as "upgrade"],
    });
    const peer = await peering.endpoints.admit(upgrade(CLUSTER_PEER_PATH, SECRET), "10.0.0.2");
    expect(peer && "accept" in peer).toBe(true);
    const refused = await peering.endpoints.admit(upgrade(CLUSTER_PEER_PATH, "wrong"), "10.0.0.2");
    expect(refused && "refuse" in refused && refused.refuse.status).toBe(403);
    const tunnel = await peering.endpoints.admit(upgrade(TUNNEL_CONTROL_PATH, "key"), "10.0.0.2");
    expect(tunnel && "refuse" in tunnel && tunnel.refuse.status).toBe(401);
    expect(tunnelAdmits).toEqual([TUNNEL_CONTROL_PATH]);

    metrics.peerStream("sent", "opened");
    metrics.peerStream("received", "failed");
    const text = await metrics.registry.metrics();
    expect(text).toContain("spokes_cluster_peer_sessions 2");
    expect(text).toContain('spokes_cluster_peer_streams_total{end="sent",outcome="opened"} 1');
    expect(text).toContain('spokes_cluster_peer_streams_total{end="received",outcome="failed"} 1');
  } finally {
    peering.stop();
  }
});

test("the web app sees tunnels held by other nodes: online, their announced rules; disconnect and changes go to the holder", async () => {
  const store = new FakeClusterStore();
  await store.heartbeat({ nodeId: "b", advertise: "127.0.0.1:1", fingerprint: "", startedAt: 0 });
  const held = "2".repeat(32);
  await store.saveLocation({ tunnelId: held, nodeId: "b", epoch: "e1", userId: null, hostname: "h", https: [], ports: [{ port: 20001, forwarded: true, firewall: [] }] });
  const localCalls: string[] = [];
  const peering = startClusterPeering({
    settings: { nodeId: "a", advertise: "127.0.0.1:2", secret: SECRET },
    store,
    tunnels: { registry: createTunnelRegistry(), disconnect: () => {} } as unknown as TunnelServer,
    live: {
      isOnline: () => false,
      announced: () => undefined,
      disconnect: (id, reason) => void localCalls.push(`disconnect ${id}: ${reason}`),
      tunnel: () => undefined,
      applyChange: async () => ({ ok: false, error: "tunnel is offline" }),
    },
    listenerPorts: createListenerPorts(() => {}),
    metrics: createServerMetrics({ tunnelsByState: async () => ({}), connectedTunnels: () => 0, openStreams: () => 0 }),
    log: { info: () => {}, warn: () => {} },
  });
  try {
    const live = peering.engine.live!;
    await waitFor(() => live.isOnline(held), "the remote tunnel synced", 5_000, 5);
    expect(live.isOnline("3".repeat(32))).toBe(false);
    expect(live.announced(held)).toEqual({ https: [], ports: [{ port: 20001, forwarded: true, firewall: [] }] });
    // No link to b (its fingerprint is empty): the change fails with why, it does not hang.
    expect(await live.applyChange(held, { kind: "tcp/add", port: 20002 })).toEqual({ ok: false, error: "node b holding the tunnel did not answer: no peer link to node b" });
    expect(await live.tunnel(held)).toBeUndefined();
    live.disconnect(held, "tunnel shut down by an admin");
    expect(localCalls).toEqual([`disconnect ${held}: tunnel shut down by an admin`]);
  } finally {
    peering.stop();
  }
});
