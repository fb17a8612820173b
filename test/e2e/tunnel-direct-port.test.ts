// listen.tunnel: the web server on a public port of its own. A client configured with it
// (`--hostname DOMAIN:PORT`) registers, connects and carries traffic without the SNI front
// door; the front door keeps working beside it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { freePort } from "../helpers.ts";
import { configureClient, echoUpstream, mustRun, sha256, startServer, stopAll, tcpExchange, type TestServer } from "./_tunnel-harness.ts";

let server: TestServer;
let tunnelPort: number;

beforeAll(async () => {
  tunnelPort = await freePort();
  server = await startServer({ config: { listen: { tunnel: tunnelPort } } });
});
afterAll(stopAll);

test("the server announces the direct tunnel port", async () => {
  // Logged next to "serving", possibly in a later write of the log.
  expect(await server.log.waitFor(`direct tunnel port 127.0.0.1:${tunnelPort}`, { timeoutMs: 10_000 })).toContain(`direct tunnel port 127.0.0.1:${tunnelPort}`);
});

test("a client on the direct port carries TCP traffic intact; the front door still serves another client", async () => {
  const echo = await echoUpstream();
  const direct = await configureClient(server, { port: tunnelPort });
  const viaFrontDoor = await configureClient(server);
  const ports: number[] = [];
  for (const c of [direct, viaFrontDoor]) {
    const port = await c.allocatePort();
    await mustRun(c, ["tunnel", "tcp", "forward", "--port", String(port), "--destination", "127.0.0.1", "--dstport", String(echo.port)]);
    await c.start();
    ports.push(port);
  }
  for (const port of ports) {
    const data = randomBytes(8 * 1024 * 1024);
    const r = await tcpExchange(port, data);
    expect(r.sha256).toBe(sha256(data));
  }
  // The login through the direct port still records the client's own address.
  const row = server.tunnel(direct.tunnelId)!;
  expect(row.online).toBe(true);
  expect(row.address).toBe("127.0.0.1");
});
