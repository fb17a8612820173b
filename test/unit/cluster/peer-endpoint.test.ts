// Peer link admission: the cluster secret (constant-time compare) and the node header,
// through the front door's admit() and a real Bun.serve TLS listener dialled by the
// pinned WebSocket connector.
import { afterAll, expect, test } from "bun:test";
import type { WebSocketHandler } from "bun";
import { createPeerEndpoint } from "../../../lib/cluster/peer-endpoint.ts";
import { webSocketPeerConnector } from "../../../lib/cluster/peer-connector.ts";
import { CLUSTER_PEER_PATH, type ClusterNode } from "../../../lib/cluster/types.ts";
import { createMuxSession } from "../../../lib/mux/session.ts";
import type { Transport } from "../../../lib/mux/transport.ts";
import { generateSelfSigned, sha256Fingerprint } from "../../../lib/tls/certificates.ts";
import { waitFor } from "../../helpers.ts";

const SECRET = "a-cluster-secret-of-some-length";

function endpoint() {
  const logs: string[] = [];
  const accepted: { node: string; address: string; transport: Transport }[] = [];
  const ep = createPeerEndpoint({
    nodeId: "b",
    secret: SECRET,
    accept: (transport, node, address) => void accepted.push({ node, address, transport }),
    log: { info: (m) => void logs.push(m), warn: (m) => void logs.push(m) },
  });
  return { ep, logs, accepted };
}

const request = (headers: Record<string, string>, path = CLUSTER_PEER_PATH) => ({
  url: new URL(`https://b.test${path}`),
  header: (name: string) => headers[name.toLowerCase()],
});

test("a wrong or missing secret is refused with 403 and one log line; no session is started", async () => {
  const { ep, logs, accepted } = endpoint();
  const wrong = ep.admit(request({ upgrade: "websocket", authorization: "Bearer not-the-secret", "x-spokes-node": "a" }), "10.0.0.1");
  expect(wrong && "refuse" in wrong && wrong.refuse.status).toBe(403);
  expect(logs).toEqual(["cluster peer link from 10.0.0.1 (node a) refused: wrong or missing cluster secret"]);
  const missing = ep.admit(request({ upgrade: "websocket", "x-spokes-node": "a" }), "10.0.0.2");
  expect(missing && "refuse" in missing && missing.refuse.status).toBe(403);
  expect(logs.length).toBe(2);
  // The secret's prefix is no better than any other wrong value.
  const prefix = ep.admit(request({ upgrade: "websocket", authorization: `Bearer ${SECRET.slice(0, -1)}`, "x-spokes-node": "a" }), "10.0.0.3");
  expect(prefix && "refuse" in prefix && prefix.refuse.status).toBe(403);
  expect(accepted).toEqual([]);
});

test("the right secret admits the node named in X-Spokes-Node; other paths, non-upgrades and this node's own id are not admitted", () => {
  const { ep, accepted } = endpoint();
  const ok = ep.admit(request({ upgrade: "websocket", authorization: `Bearer ${SECRET}`, "x-spokes-node": "node-a" }), "10.0.0.1");
  expect(ok && "accept" in ok).toBe(true);
  if (ok && "accept" in ok) ok.accept({} as Transport);
  expect(accepted.map((a) => [a.node, a.address])).toEqual([["node-a", "10.0.0.1"]]);

  expect(ep.admit(request({ upgrade: "websocket", authorization: `Bearer ${SECRET}` }, "/api/client/v1/tunnel/connect"), "10.0.0.1")).toBeUndefined();
  const plain = ep.admit(request({ authorization: `Bearer ${SECRET}`, "x-spokes-node": "a" }), "10.0.0.1");
  expect(plain && "refuse" in plain && plain.refuse.status).toBe(426);
  const noNode = ep.admit(request({ upgrade: "websocket", authorization: `Bearer ${SECRET}` }), "10.0.0.1");
  expect(noNode && "refuse" in noNode && noNode.refuse.status).toBe(400);
  const self = ep.admit(request({ upgrade: "websocket", authorization: `Bearer ${SECRET}`, "x-spokes-node": "b" }), "10.0.0.1");
  expect(self && "refuse" in self && self.refuse.status).toBe(409);
});

// ---- over a real TLS listener -----------------------------------------------------------------

const pair = await generateSelfSigned("b.test", { days: 2 });
const real = endpoint();
/** Stand-in for the tunnel server's WebSocket handler: must never see a peer link. */
const tunnelSockets: string[] = [];
const inner: WebSocketHandler<{ tunnel: true }> = { open: () => void tunnelSockets.push("open"), message: () => {} };
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: { cert: pair.certPem, key: pair.keyPem },
  fetch: (req, srv) => (real.ep.matches(new URL(req.url)) ? real.ep.handle(req, srv as never, "127.0.0.1") : new Response("web", { status: 404 })),
  websocket: real.ep.websocket(inner) as never,
});
afterAll(() => server.stop(true));
const nodeB = (fingerprint = sha256Fingerprint(pair.certPem)): ClusterNode => ({ nodeId: "b", advertise: `127.0.0.1:${server.port}`, fingerprint, startedAt: 0, heartbeatAt: 0 });

test("the pinned connector opens a working link over TLS; the endpoint runs it, not the tunnel handler", async () => {
  const connect = webSocketPeerConnector({ nodeId: "a", secret: SECRET, timeoutMs: 5_000 });
  const transport = await connect(nodeB(), new AbortController().signal);
  await waitFor(() => real.accepted.length === 1, "the link accepted at b", 5_000, 5);
  expect(real.accepted[0]!.node).toBe("a");
  // A mux session runs end to end: a message from a reaches b.
  const got: string[] = [];
  createMuxSession({ transport: real.accepted[0]!.transport, side: "server", keepalive: false, onMessage: (b) => void got.push(new TextDecoder().decode(b)) });
  const sessionA = createMuxSession({ transport, side: "client", keepalive: false });
  sessionA.sendMessage(new TextEncoder().encode("hello b"));
  await waitFor(() => got[0] === "hello b", "the message at b", 5_000, 5);
  expect(tunnelSockets).toEqual([]);
  sessionA.close();
});

test("a wrong secret over the wire is refused (403 logged at b); a certificate that does not match the pin is not dialled", async () => {
  const before = real.logs.length;
  const wrong = webSocketPeerConnector({ nodeId: "a", secret: "another-secret-entirely", timeoutMs: 5_000 });
  await expect(wrong(nodeB(), new AbortController().signal)).rejects.toThrow(/refused this node's cluster secret \(403\)/);
  expect(real.logs.slice(before)).toEqual(["cluster peer link from 127.0.0.1 (node a) refused: wrong or missing cluster secret"]);

  const accepted = real.accepted.length;
  const pinned = webSocketPeerConnector({ nodeId: "a", secret: SECRET, timeoutMs: 5_000 });
  await expect(pinned(nodeB(`sha256:${"0".repeat(64)}`), new AbortController().signal)).rejects.toThrow(/does not match the pinned fingerprint/);
  await expect(pinned(nodeB(""), new AbortController().signal)).rejects.toThrow(/no certificate fingerprint/);
  expect(real.accepted.length).toBe(accepted);
});
