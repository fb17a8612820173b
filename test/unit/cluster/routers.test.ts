// The routers over a cluster node's composite route table: a visitor at node A reaches a
// tunnel held by node B through the HTTP router, and when the peer link is gone the HTTP
// router answers 503, the edge router resets the TCP connection, the mesh refuses.
import { afterAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { createEdgeRouter, type ConnectionOutcome } from "../../../lib/edge/edge-router.ts";
import { createHttpRouter } from "../../../lib/edge/http-router.ts";
import { createLoopbackRelay } from "../../../lib/edge/loopback-relay.ts";
import { bunSocketHandlers, type BunSocketConnection } from "../../../lib/net/connection.ts";
import { createTrafficStats } from "../../../lib/stats/traffic-stats.ts";
import { createMeshResolver } from "../../../lib/tunnel/server/mesh-resolver.ts";
import type { SocksTarget } from "../../../lib/socks/handshake.ts";
import { waitFor } from "../../helpers.ts";
import { FakeConnection } from "../socks/fake-connection.ts";
import { T1, readAll, twoLinkedNodes } from "./cluster-harness.ts";

const until = <T>(check: () => T, what: string) => waitFor(check, what, 5_000, 1);

const { c, tunnel } = await twoLinkedNodes();
const a = c.nodes.get("a")!;
const b = c.nodes.get("b")!;

const http = createHttpRouter({
  routes: a.engine.routes,
  isOwnDomain: (h) => h === "spokes.test",
  webHttpPort: () => 1,
  httpsPort: () => 443,
  relay: createLoopbackRelay(),
  stats: createTrafficStats(),
});
const listener = Bun.listen<{ connection?: BunSocketConnection }>({
  hostname: "127.0.0.1",
  port: 0,
  allowHalfOpen: true,
  data: {},
  socket: bunSocketHandlers((conn, socket) => http.handle(conn, socket.remoteAddress, false)),
});
afterAll(() => {
  listener.stop(true);
  c.nodes.forEach((n) => n.engine.stop());
});

/** Sends a request to the HTTP router at node A; resolves with everything received until close. */
function visit(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const s = connect({ host: "127.0.0.1", port: listener.port }, () => s.write(request));
    const timer = setTimeout(() => (s.destroy(), reject(new Error("no answer"))), 5_000);
    s.on("data", (d) => (text += d.toString("latin1")));
    s.on("close", () => (clearTimeout(timer), resolve(text)));
    s.on("error", () => {});
  });
}

const outcomes: ConnectionOutcome[] = [];
const edge = createEdgeRouter({
  routes: a.engine.routes,
  endpoints: { admit: async () => undefined },
  stats: createTrafficStats(),
  relay: createLoopbackRelay(),
  domain: () => "spokes.test",
  certificateCovers: () => false,
  webPlainPort: () => 1,
  webHttpPort: () => 1,
  selectCertificate: () => undefined as never,
  httpsPort: () => 443,
  onConnection: (_kind, outcome) => void outcomes.push(outcome),
  log: { info: () => {}, warn: () => {} },
});
const mesh = createMeshResolver({ routes: a.engine.routes, stats: createTrafficStats(), allow: () => [], enabled: () => true, log: { info: () => {}, warn: () => {} } });

test("an HTTP visitor at node A is answered by the tunnel on node B", async () => {
  tunnel.client.onStream = (stream, meta) => {
    if (meta.t !== "http") return;
    void readAll(stream);
    stream.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nfrom-b\n"));
    stream.end();
  };
  const answer = await visit("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
  expect(answer).toStartWith("HTTP/1.1 200 OK");
  expect(answer).toEndWith("from-b\n");
  expect(tunnel.client.streams.at(-1)!.meta).toMatchObject({ t: "http", d: "app.test", s: false });
});

test("a TCP visitor at node A is joined to the tunnel on node B", async () => {
  const conn = new FakeConnection();
  edge.onTcpConnection(20001, conn as never, "203.0.113.5");
  expect(outcomes.at(-1)).toBe("accepted");
  await until(() => tunnel.client.streams.some((s) => s.meta.t === "tcp" && s.meta.r === "203.0.113.5"), "the TCP stream at B");
  conn.onclose?.();
});

test("with the peer link lost: the HTTP router answers 503, the edge router resets, the mesh refuses", async () => {
  a.dialled.get("b")!.abort();
  b.dialled.get("a")!.abort();
  await until(() => a.engine.links.connectedNodes().length === 0, "no link");

  const answer = await visit("GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
  expect(answer).toStartWith("HTTP/1.1 503");
  expect(answer).toContain("The tunnel for app.test is not available right now.");

  const conn = new FakeConnection();
  edge.onTcpConnection(20001, conn as never, "203.0.113.6");
  expect(conn.resets).toBe(1);
  expect(outcomes.at(-1)).toBe("stream_failed");

  const dialled = await mesh.dial({ host: "x", port: 20001, addrType: 3 } as SocksTarget, "192.0.2.1");
  expect(dialled).toMatchObject({ ok: false, reply: 0x04, reason: `tunnel ${T1} unavailable` });
});
