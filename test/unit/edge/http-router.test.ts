import { afterAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { bunSocketHandlers, type BunSocketConnection } from "../../../lib/net/connection.ts";
import { createLoopbackRelay } from "../../../lib/edge/loopback-relay.ts";
import { createTrafficStats } from "../../../lib/stats/traffic-stats.ts";
import { createHttpRouter } from "../../../lib/edge/http-router.ts";
import { createTunnelRegistry } from "../../../lib/tunnel/server/registry.ts";

const router = createHttpRouter({
  routes: createTunnelRegistry(),
  isOwnDomain: (h) => h === "spokes.test",
  webHttpPort: () => 1,
  httpsPort: () => 443,
  relay: createLoopbackRelay(),
  stats: createTrafficStats(),
  headTimeoutMs: 300,
  acmeChallenge: (token) => (token === "tok-123" ? "tok-123.thumbprint" : undefined),
});
const listener = Bun.listen<{ connection?: BunSocketConnection }>({
  hostname: "127.0.0.1",
  port: 0,
  allowHalfOpen: true,
  data: {},
  socket: bunSocketHandlers((conn, socket) => router.handle(conn, socket.remoteAddress, false)),
});
afterAll(() => listener.stop(true));

/** Sends `bytes`, returns everything received until the server closes (or `limitMs`). */
function exchange(bytes: string, limitMs = 5000): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let text = "";
    const s = connect({ host: "127.0.0.1", port: listener.port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`still open after ${limitMs} ms`));
    }, limitMs);
    s.on("data", (d) => (text += d.toString("latin1")));
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closedAfterMs: performance.now() - t0 });
    });
    s.on("error", () => {});
  });
}

test("an unknown host gets the 404 page and the connection closes", async () => {
  const r = await exchange("GET / HTTP/1.1\r\nHost: nobody.example\r\n\r\n");
  expect(r.text.startsWith("HTTP/1.1 404")).toBe(true);
  expect(r.text).toContain("nobody.example");
});

test("a request head that never completes is cut at the head timeout (slow loris)", async () => {
  const r = await exchange("GET / HTTP/1.1\r\nHost: nobo");
  expect(r.text).toBe("");
  expect(r.closedAfterMs).toBeGreaterThanOrEqual(250);
  expect(r.closedAfterMs).toBeLessThan(3000);
});

test("a malformed request gets 400", async () => {
  const r = await exchange("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  expect(r.text.startsWith("HTTP/1.1 400")).toBe(true);
});

test("a pending HTTP-01 challenge of the server is answered for any Host; other tokens are routed as usual", async () => {
  const pending = await exchange("GET /.well-known/acme-challenge/tok-123 HTTP/1.1\r\nHost: t1.spokes.test\r\n\r\n");
  expect(pending.text.startsWith("HTTP/1.1 200")).toBe(true);
  expect(pending.text.endsWith("\r\n\r\ntok-123.thumbprint")).toBe(true);
  const other = await exchange("GET /.well-known/acme-challenge/tok-999 HTTP/1.1\r\nHost: t1.spokes.test\r\n\r\n");
  expect(other.text.startsWith("HTTP/1.1 404")).toBe(true);
});
