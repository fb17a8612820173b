// The compiled dist/spokes on PostgreSQL (`database.url` postgres://…, a private cluster
// started here): migrations applied by the executable, the admin CLI, a tunnel coming
// online, an HTTP rule and an allocated TCP port routed, traffic counted, and the data
// kept in PostgreSQL across a server restart.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { freePort, spokes, tempDir, waitFor, writeServerConfig } from "../helpers.ts";
import { startPostgres, type PostgresCluster } from "../postgres-cluster.ts";
import { configureClient, curl, echoUpstream, httpUpstream, mustRun, sha256, startServer, stopAll, tcpExchange, type TestClient, type TestServer } from "./_tunnel-harness.ts";

let pg: PostgresCluster;
let server: TestServer;
let client: TestClient;
let tcpPort: number;

beforeAll(async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase("spokes");
  server = await startServer({ config: { database: { url } } });
  const app = httpUpstream({ fetch: (req) => Response.json({ host: req.headers.get("host"), path: new URL(req.url).pathname }) });
  const echo = await echoUpstream();
  client = await configureClient(server);
  await mustRun(client, ["tunnel", "http", "add", "--domain", "pg.spokes.test", "--http", String(app.port)]);
  tcpPort = await client.allocatePort();
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(tcpPort), "--destination", "127.0.0.1", "--dstport", String(echo.port)]);
  await client.start();
});

afterAll(async () => {
  await stopAll();
  pg?.stop();
});

describe("spokes on PostgreSQL", () => {
  test("the tunnel is online in the database and HTTP by Host reaches the upstream", async () => {
    expect(server.tunnel(client.tunnelId)).toMatchObject({ state: 2, online: true });
    const r = await curl(server, "pg.spokes.test", "/hello");
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ path: "/hello" });
  });

  test("an allocated port echoes 5 MB intact", async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const r = await tcpExchange(tcpPort, data);
    expect(r.sha256).toBe(sha256(data));
  });

  test("the admin CLI reads the same state: ports, clean --check", () => {
    const ports = server.json<{ port: number; tunnel: string }[]>(["port", "ls", "--json"]);
    expect(ports.map((p) => p.port)).toContain(tcpPort);
    const clean = server.cli(["clean", "--check"]);
    expect(clean.code).toBe(0);
  });

  test("traffic is counted and the tunnel survives a server restart (state lives in PostgreSQL)", async () => {
    await waitFor(() => {
      const bw = server.json<{ id: string; bandwidth: { daily: number } }[]>(["tunnel", "ls", "--json"]).find((t) => t.id === client.tunnelId)?.bandwidth;
      return bw && bw.daily >= 10 * 1024 * 1024;
    }, "traffic counted", 20_000);
    await server.kill9();
    await server.restart();
    await waitFor(async () => (await curl(server, "pg.spokes.test", "/again")).status === 200, "the client back through the restarted server", 30_000, 250);
    expect(server.tunnel(client.tunnelId)).toMatchObject({ online: true });
  });

  test("an unreachable PostgreSQL is one clear line and a non-zero exit, password redacted", async () => {
    const dir = tempDir();
    const config = writeServerConfig(dir, { database: { url: `postgres://spokes:hunter2@127.0.0.1:${await freePort()}/spokes` } });
    const r = spokes(["tunnel", "ls", "--config", config]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("cannot open database postgres://***@127.0.0.1");
    expect(r.stderr).not.toContain("hunter2");
  });
});
