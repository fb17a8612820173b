// /metrics and /healthz through the real dist/spokes: Prometheus's own parser
// (`promtool check metrics`) reads the exposition, counters move after curl traffic
// through a real tunnel, and /healthz turns 503 when the database file is taken away.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, copyFileSync, mkdirSync, openSync, readSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SPOKES_BIN, freePort, run, tempDir, waitFor, writeServerConfig } from "../helpers.ts";
import { configureClient, curl, httpUpstream, mustRun, runAsync, spawnLogged, startServer, stopAll, type TestServer } from "./_tunnel-harness.ts";

const TOKEN = "metrics-secret";
let server: TestServer;
let metricsPort: number;

beforeAll(async () => {
  metricsPort = await freePort();
  server = await startServer({ config: { listen: { metrics: `127.0.0.1:${metricsPort}`, metricsToken: TOKEN } } });
  const app = httpUpstream({ fetch: () => new Response("x".repeat(10_000)) });
  const client = await configureClient(server);
  await mustRun(client, ["tunnel", "http", "add", "--domain", "app.spokes.test", "--http", String(app.port)]);
  await client.start();
});

afterAll(stopAll);

const metricsUrl = () => `http://127.0.0.1:${metricsPort}/metrics`;

/** The exposition text, checked by promtool (a real Prometheus text-format parser and linter). */
async function scrape(): Promise<string> {
  const r = await fetch(metricsUrl(), { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  const text = await r.text();
  const file = join(tempDir(), "metrics.txt");
  writeFileSync(file, text);
  const check = run("sh", ["-c", `promtool check metrics < '${file}'`]);
  if (check.code !== 0) throw new Error(`promtool check metrics failed (${check.code}):\n${check.stdout}${check.stderr}`);
  return text;
}

/** The value of one sample (`name{labels}` exactly as exposed), 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

test("/metrics needs the bearer token", async () => {
  expect((await fetch(metricsUrl())).status).toBe(401);
  expect((await fetch(metricsUrl(), { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
});

test("the exposition passes promtool and names the server's series", async () => {
  const text = await scrape();
  for (const name of [
    "spokes_tunnels",
    "spokes_tunnels_connected",
    "spokes_streams_open",
    "spokes_traffic_bytes_total",
    "spokes_connections_total",
    "spokes_acme_orders_total",
    "spokes_mux_window_stalls_total",
    "spokes_tunnel_logins_refused_total",
    "process_resident_memory_bytes",
    "nodejs_eventloop_lag_seconds",
  ]) {
    expect(text).toContain(`# TYPE ${name} `);
  }
  expect(sample(text, "spokes_tunnels_connected")).toBe(1);
  expect(sample(text, 'spokes_tunnels{state="online"}')).toBe(1);
  expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
});

test("counters move after curl traffic and refused connections", async () => {
  const before = await scrape();
  for (let i = 0; i < 3; i++) expect((await curl(server, "app.spokes.test", "/")).status).toBe(200);
  // An unknown name on the HTTPS port is closed at its ClientHello.
  const refused = await runAsync(["curl", "-sS", "-k", "--max-time", "5", "--resolve", `nobody.example:${server.httpsPort}:127.0.0.1`, `https://nobody.example:${server.httpsPort}/`]);
  expect(refused.code).not.toBe(0);
  // A bad tunnel token is a refused login.
  await runAsync(["curl", "-sS", "-k", "--max-time", "5", "-H", "Authorization: Bearer nope", "-H", "Upgrade: websocket", "-H", "Connection: Upgrade", "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "--resolve", `spokes.test:${server.httpsPort}:127.0.0.1`, `https://spokes.test:${server.httpsPort}/api/client/v1/tunnel`]);
  // Bytes are counted when a request ends; the last curl has returned, so they are in.
  const after = await waitFor(async () => {
    const t = await scrape();
    return sample(t, 'spokes_traffic_bytes_total{kind="http",direction="out"}') >= sample(before, 'spokes_traffic_bytes_total{kind="http",direction="out"}') + 30_000 ? t : null;
  }, "http bytes in the metrics");
  expect(sample(after, 'spokes_connections_total{kind="http",outcome="accepted"}')).toBeGreaterThanOrEqual(sample(before, 'spokes_connections_total{kind="http",outcome="accepted"}') + 3);
  expect(sample(after, 'spokes_connections_total{kind="tls",outcome="no_route"}')).toBe(sample(before, 'spokes_connections_total{kind="tls",outcome="no_route"}') + 1);
  expect(sample(after, "spokes_tunnel_logins_refused_total")).toBe(sample(before, "spokes_tunnel_logins_refused_total") + 1);
  expect(sample(after, 'spokes_traffic_bytes_total{kind="http",direction="in"}')).toBeGreaterThan(sample(before, 'spokes_traffic_bytes_total{kind="http",direction="in"}'));
});

test("/healthz turns 503 when the database file's header is overwritten in place", async () => {
  const db = join(server.dir, "spokes.db");
  const original = Buffer.alloc(16);
  const fd = openSync(db, "r+");
  try {
    readSync(fd, original, 0, 16, 0);
    writeSync(fd, Buffer.alloc(16, 0x58), 0, 16, 0);
    const r = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { database: string }).database).toBe(`database file ${db} is not an SQLite database any more (its header was overwritten)`);
  } finally {
    writeSync(fd, original, 0, 16, 0);
    closeSync(fd);
  }
});

test("/healthz answers without auth on the public HTTP port and the metrics port, 503 once the database file is gone", async () => {
  const viaHttp = () => curl(server, "spokes.test", "/healthz");
  const viaMetrics = async () => {
    const r = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
    return { status: r.status, body: (await r.json()) as { status: string; database: string } };
  };
  const ok = await viaHttp();
  expect(ok.status).toBe(200);
  expect(JSON.parse(ok.body)).toEqual({ status: "ok", database: "ok", listeners: "ok" });
  expect((await viaMetrics()).status).toBe(200);

  // Move the whole data directory away: the open connection still reads the old file,
  // but the path the admin CLI opens is gone.
  const moved = `${server.dir}-moved`;
  renameSync(server.dir, moved);
  try {
    const down = await viaMetrics();
    expect(down.status).toBe(503);
    expect(down.body.status).toBe("unavailable");
    expect(down.body.database).toBe(`database file ${join(server.dir, "spokes.db")} is gone`);
  } finally {
    renameSync(moved, server.dir);
  }
  expect((await viaMetrics()).status).toBe(200);

  // A different file at the path (a restore copied over it) is not the database the server has open.
  const db = join(server.dir, "spokes.db");
  copyFileSync(db, `${db}.copy`);
  renameSync(`${db}.copy`, db);
  const replaced = await viaHttp();
  expect(replaced.status).toBe(503);
  expect(JSON.parse(replaced.body).database).toBe(`database file ${db} was replaced since the server opened it`);
});

test("/healthz turns 503 while the database file is unreadable, and 200 again once it is readable", async () => {
  // Root reads any file whatever its mode: run this server as nobody, in a directory it owns.
  const dir = tempDir();
  const [port, healthPort] = [await freePort(), await freePort()];
  const config = writeServerConfig(dir, { listen: { address: "127.0.0.1", http: port, https: 0, metrics: `127.0.0.1:${healthPort}` } });
  mkdirSync(join(dir, "tmp"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) for (const p of [dir, join(dir, "tmp"), config]) chownSync(p, 65534, 65534);
  const cmd = [...(asRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []), SPOKES_BIN, "serve", "--config", config];
  const { proc, log } = spawnLogged(cmd, { TMPDIR: join(dir, "tmp") });
  await log.waitFor(`serving spokes.test: http 127.0.0.1:${port}`, { proc });
  const health = async () => {
    const r = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    return { status: r.status, body: (await r.json()) as { status: string; database: string } };
  };
  expect((await health()).status).toBe(200);
  const db = join(dir, "spokes.db");
  chmodSync(db, 0o000);
  try {
    expect(await health()).toEqual({ status: 503, body: { status: "unavailable", database: `database file ${db} cannot be opened: EACCES`, listeners: "ok" } as never });
  } finally {
    chmodSync(db, 0o644);
  }
  expect((await health()).status).toBe(200);
  expect(proc.exitCode).toBeNull();
}, 60_000);
