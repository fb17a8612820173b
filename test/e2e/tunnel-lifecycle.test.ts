// The life of a tunnel through the real executables: registration with an id, online and
// offline state, heartbeats on both sides, the client coming back after the server was
// killed, `token rm` cutting a client off, and clean stops on SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { waitFor } from "../helpers.ts";
import {
  canConnect,
  configureClient,
  curl,
  echoUpstream,
  httpUpstream,
  mustRun,
  startServer,
  stopAll,
  tcpExchange,
  waitForStatus,
  type TestClient,
  type TestServer,
} from "./_tunnel-harness.ts";

/** Short heartbeats and backoff so dead peers are found in seconds, not 30 s. */
const SERVER_ENV = { SPOKES_KEEPALIVE_MS: "300" };
const CLIENT_ENV = { PKTRIOT_KEEPALIVE_MS: "300", PKTRIOT_BACKOFF_MAX_MS: "500" };

let server: TestServer;
let upstreamPort: number;

beforeAll(async () => {
  server = await startServer({ env: SERVER_ENV });
  upstreamPort = httpUpstream({ fetch: (req) => new Response(`hello from ${new URL(req.url).pathname}`) }).port!;
});

afterAll(stopAll);

/** A configured, started client with an HTTP rule for `domain`. */
async function onlineClient(domain: string, auth: Parameters<typeof configureClient>[1] = {}): Promise<TestClient> {
  const c = await configureClient(server, auth);
  await mustRun(c, ["tunnel", "http", "add", "--domain", domain, "--http", String(upstreamPort)]);
  await c.start(CLIENT_ENV);
  return c;
}

const get = (domain: string, path = "/") => curl(server, domain, path, { timeoutMs: 5000 });

describe("registration", () => {
  test("--registration with --id creates a tunnel user (origin Tunnel Registration) that groups tunnels", async () => {
    const reg = server.cli(["registration", "create", "--description", "fleet"]);
    expect(reg.code).toBe(0);
    const token = reg.stdout.trim().split("\n").at(-1)!.trim();
    const a = await onlineClient("fleet-a1.spokes.test", { registration: token, id: "fleet-a" });
    const b = await onlineClient("fleet-a2.spokes.test", { registration: token, id: "fleet-a" });
    expect(a.tunnelId).not.toBe(b.tunnelId);

    const users = server.json<{ id: string; email: string; origin: string }[]>(["users", "ls", "--all", "--json"]);
    const fleet = users.filter((u) => u.origin === "Tunnel Registration");
    expect(fleet).toHaveLength(1);
    expect(JSON.stringify(fleet[0])).toContain("fleet-a");

    for (const c of [a, b]) {
      const row = server.tunnel(c.tunnelId)!;
      expect(row).toMatchObject({ online: true, state: 2, user: "fleet-a", userID: fleet[0]!.id, os: "linux", address: "127.0.0.1" });
      expect(row.version).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect((await get("fleet-a1.spokes.test", "/a1")).body).toBe("hello from /a1");
    expect((await get("fleet-a2.spokes.test", "/a2")).body).toBe("hello from /a2");
    await a.kill9();
    await b.kill9();
  });
});

describe("rules", () => {
  test("HTTP rules added and removed while the client runs apply live", async () => {
    const c = await onlineClient("first.spokes.test");
    expect((await get("live.spokes.test")).status).toBe(404);
    await mustRun(c, ["tunnel", "http", "add", "--domain", "live.spokes.test", "--http", String(upstreamPort)]);
    expect((await waitForStatus(() => get("live.spokes.test", "/live"), 200, "the rule added live")).body).toBe("hello from /live");
    await mustRun(c, ["tunnel", "http", "rm", "--domain", "live.spokes.test"]);
    await waitForStatus(() => get("live.spokes.test"), 404, "the rule removed live");
    expect((await get("first.spokes.test")).status).toBe(200);
    await c.kill9();
  });

  test("a domain claimed by another online tunnel is refused with the reason printed by the client", async () => {
    const owner = await onlineClient("claimed.spokes.test");
    const other = await onlineClient("other.spokes.test");
    const from = other.log.text.length;
    await mustRun(other, ["tunnel", "http", "add", "--domain", "claimed.spokes.test", "--http", String(upstreamPort)]);
    await other.log.waitFor(/rule claimed\.spokes\.test refused by the server: .*claimed by another tunnel/, { from });
    // The owner keeps it, the other tunnel keeps its own rule.
    expect((await get("claimed.spokes.test")).status).toBe(200);
    expect((await get("other.spokes.test")).status).toBe(200);
    await owner.kill9();
    await other.kill9();
  });
});

describe("dead peers", () => {
  test("kill -9 of the client: the tunnel is offline at once and its domain answers 502/503", async () => {
    const c = await onlineClient("killed.spokes.test");
    expect((await get("killed.spokes.test")).status).toBe(200);
    await c.kill9();
    await waitFor(() => server.tunnel(c.tunnelId)?.online === false, "the tunnel offline after kill -9", 5000);
    expect(server.tunnel(c.tunnelId)!.state).toBe(3);
    expect([502, 503]).toContain((await get("killed.spokes.test")).status);
    // Over HTTPS too: the server terminates the known name and answers the same page.
    expect([502, 503]).toContain((await curl(server, "killed.spokes.test", "/", { https: true })).status);
    // An unknown name under the server's certificate is closed, not answered (SPEC 2.3).
    expect((await curl(server, "never-claimed.spokes.test", "/", { https: true })).status).toBe(0);
  });

  test("a frozen client (SIGSTOP) is found dead by the server's heartbeat, and comes back after SIGCONT", async () => {
    const c = await onlineClient("frozen.spokes.test");
    const from = server.log.text.length;
    const started = Date.now();
    process.kill(c.proc!.pid, "SIGSTOP");
    try {
      await server.log.waitFor(`tunnel ${c.tunnelId} offline`, { from, timeoutMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(server.tunnel(c.tunnelId)!.online).toBe(false);
    } finally {
      process.kill(c.proc!.pid, "SIGCONT");
    }
    // The client learns its connection is gone and reconnects by itself.
    const clientFrom = c.log.text.length;
    await c.log.waitFor(`tunnel ${c.tunnelId} online`, { from: clientFrom, timeoutMs: 10_000 });
    await waitForStatus(() => get("frozen.spokes.test"), 200, "the domain back after SIGCONT");
    await c.kill9();
  });

  test("a frozen server (SIGSTOP) is found dead by the client's heartbeat", async () => {
    const c = await onlineClient("frozen-server.spokes.test");
    const from = c.log.text.length;
    const started = Date.now();
    process.kill(server.proc.pid, "SIGSTOP");
    try {
      await c.log.waitFor(/disconnected: .*reconnecting/, { from, timeoutMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      process.kill(server.proc.pid, "SIGCONT");
    }
    await c.log.waitFor(`tunnel ${c.tunnelId} online`, { from, timeoutMs: 10_000 });
    await waitForStatus(() => get("frozen-server.spokes.test"), 200, "the domain back after the server resumed");
    await c.kill9();
  });

  test("kill -9 of the server: the client reconnects by itself to the restarted server and serves again", async () => {
    const c = await onlineClient("phoenix.spokes.test");
    const port = await c.allocatePort();
    const echo = await echoUpstream();
    await mustRun(c, ["tunnel", "tcp", "forward", "--port", String(port), "--dstport", String(echo.port)]);
    await waitFor(() => canConnect(port), "the forward to open");

    await server.kill9();
    const from = c.log.text.length;
    await c.log.waitFor(/disconnected: .*reconnecting/, { from, timeoutMs: 5000 });
    await server.restart();
    await c.log.waitFor(`tunnel ${c.tunnelId} online`, { from, timeoutMs: 10_000 });
    const r = await waitForStatus(() => get("phoenix.spokes.test", "/again"), 200, "the domain after the restart");
    expect(r.body).toBe("hello from /again");
    // Its TCP port comes back too.
    await waitFor(() => canConnect(port), "the TCP port after the restart");
    expect((await tcpExchange(port, Buffer.from("ping"))).received.toString()).toBe("ping");
    expect(server.tunnel(c.tunnelId)).toMatchObject({ online: true, state: 2 });
    await c.kill9();
  });
});

describe("shutdown", () => {
  test("token rm disconnects the online client within seconds; it says why; the tunnel is shut down", async () => {
    const c = await onlineClient("revoked.spokes.test");
    const port = await c.allocatePort();
    const token = server.json<{ id: string; tunnel: string }[]>(["token", "ls", "--json"]).find((t) => t.tunnel === c.tunnelId)!;
    const from = c.log.text.length;
    const started = Date.now();
    const rm = server.cli(["token", "rm", "--id", token.id]);
    expect(rm.code).toBe(0);
    await c.log.waitFor(/server closed the tunnel: .*(shut down|deactivated)/, { from, timeoutMs: 10_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    // Reconnecting is refused, with the reason printed.
    await c.log.waitFor(/server refused the tunnel: .+/, { from, timeoutMs: 10_000 });
    expect([404, 502, 503]).toContain((await get("revoked.spokes.test")).status);
    const row = server.tunnel(c.tunnelId)!;
    expect(row.state).toBe(4);
    expect(row.online).toBe(false);
    expect(server.json<{ id: string }[]>(["tunnel", "ls", "--json"]).map((t) => t.id)).not.toContain(c.tunnelId);
    // Its port was released.
    expect(server.cli(["port", "ls"]).stdout).not.toContain(String(port));
    await c.kill9();
  });

  test("token rm and unmanaged deauth keep the token listed with active false", async () => {
    const c = await configureClient(server);
    const deauth = await mustRun(c, ["unmanaged", "deauth"]);
    expect(deauth).toBe("Tunnel deauthorized\n");
    const tokens = server.json<{ tunnel: string; active: boolean; tunnelState?: string }[]>(["token", "ls", "--json"]);
    expect(tokens.find((t) => t.tunnel === c.tunnelId)).toMatchObject({ active: false });
    expect(tokens.find((t) => t.tunnel === c.tunnelId)!.tunnelState).toBeUndefined();
    const all = server.json<{ tunnel: string; active: boolean; tunnelState?: string }[]>(["token", "ls", "--all", "--json"]);
    expect(all.find((t) => t.tunnel === c.tunnelId)).toMatchObject({ active: false, tunnelState: "Shutdown" });
    expect(server.cli(["token", "ls"]).stdout).toContain(c.tunnelId);
  });

  test("SIGTERM stops pktriot cleanly (exit 0) and the tunnel goes offline", async () => {
    const c = await onlineClient("polite.spokes.test");
    process.kill(c.proc!.pid, "SIGTERM");
    expect(await c.proc!.exited).toBe(0);
    await waitFor(() => server.tunnel(c.tunnelId)?.online === false, "offline after the client stopped", 5000);
  });

  test("SIGTERM stops spokes cleanly (exit 0), marking its tunnels offline", async () => {
    const c = await onlineClient("last.spokes.test");
    process.kill(server.proc.pid, "SIGTERM");
    expect(await server.proc.exited).toBe(0);
    expect(server.log.text).toContain(`tunnel ${c.tunnelId} offline`);
    const row = server.tunnel(c.tunnelId)!;
    expect(row.online).toBe(false);
    expect(row.state).toBe(3);
    await c.kill9();
  });
});
