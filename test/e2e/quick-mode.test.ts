// Quick mode (SPEC 3.3) through dist/: `pktriot http PORT [--domain D]` and `pktriot tcp
// PORT` on a configured client add a temporary rule, print where it is reachable, serve
// traffic through the real server, and take the rule back on SIGTERM/SIGINT: gone from the
// client's file, from the server (services, cached config, port list) and from routing.
// The user's own rules are never touched.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { ClientConfig } from "../../lib/client-config/types.ts";
import { PKTRIOT_BIN } from "../helpers.ts";
import { AdminApiClient } from "./_admin-api-client.ts";
import {
  DOMAIN,
  configureClient,
  curl,
  echoUpstream,
  httpUpstream,
  mustRun,
  spawnLogged,
  startServer,
  stopAll,
  tcpExchange,
  type ProcessLog,
  type TestClient,
  type TestServer,
} from "./_tunnel-harness.ts";

const KEPT = "kept.example.com";

let server: TestServer;
let client: TestClient;
let api: AdminApiClient;
let webPort: number;
let echoPort: number;

const savedConfig = (): ClientConfig => JSON.parse(readFileSync(client.configPath, "utf8"));
const tunnelInfo = async () => (await api.get(`tunnel/info/${client.tunnelId}`)).json.tunnel;
const cachedConfig = async () => (await api.get(`tunnel/config/${client.tunnelId}`)).json.config;

/** `pktriot <args>` in the foreground; resolves once it printed a line matching `address`. */
async function quick(args: string[], address: RegExp): Promise<{ proc: Subprocess; log: ProcessLog; match: RegExpMatchArray }> {
  const { proc, log } = spawnLogged([PKTRIOT_BIN, "--config", client.configPath, ...args]);
  const line = await log.waitFor(new RegExp(`^${address.source}$`, "m"), { proc });
  return { proc, log, match: line.match(address)! };
}

/** Stops a quick run with `signal`; returns its log after a clean exit. */
async function stop(run: { proc: Subprocess; log: ProcessLog }, signal: "SIGTERM" | "SIGINT"): Promise<string> {
  run.proc.kill(signal);
  const code = await run.proc.exited;
  expect([code, run.log.text.includes("removed the temporary")]).toEqual([0, true]);
  return run.log.text;
}

/** True when a connection to 127.0.0.1:port is refused or closed without a byte back. */
function closedWithoutData(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = 0;
    s.on("connect", () => s.write("hello?"));
    s.on("data", (d: Buffer) => (got += d.length));
    s.on("close", () => resolve(got === 0));
    s.on("error", () => {});
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

beforeAll(async () => {
  server = await startServer();
  const key = server.cli(["apikey", "create", "--description", "quick mode e2e"]);
  if (key.code !== 0) throw new Error(`apikey create: ${key.stderr}`);
  api = await new AdminApiClient(() => server.httpsPort).login(key.stdout.trim().split("\n").at(-1)!.trim());
  webPort = httpUpstream({ fetch: (req) => new Response(`web ${new URL(req.url).pathname} via ${req.headers.get("host")}`) }).port!;
  echoPort = (await echoUpstream()).port;
  client = await configureClient(server);
  // A rule of the user's own: quick mode serves it too and must leave it alone.
  await mustRun(client, ["tunnel", "http", "add", "--domain", KEPT, "--http", String(webPort)]);
});

afterAll(stopAll);

describe("pktriot http PORT", () => {
  test("an assigned <random>.<server domain> over HTTPS; SIGTERM removes the rule from the file and the server", async () => {
    const run = await quick(["http", String(webPort)], new RegExp(`https://([0-9a-f]{8}\\.${DOMAIN.replace(".", "\\.")}):${server.httpsPort}`));
    const host = run.match[1]!;
    expect(savedConfig().https.map((r) => [r.domain, r.destination, r.port])).toEqual([
      [KEPT, "127.0.0.1", webPort],
      [host, "127.0.0.1", webPort],
    ]);
    // The server's wildcard certificate covers the name; plain HTTP works as well.
    const https = await curl(server, host, "/secure", { https: true });
    expect([https.status, https.body]).toEqual([200, `web /secure via ${host}:${server.httpsPort}`]);
    expect((await curl(server, host, "/plain")).body).toBe(`web /plain via ${host}`);
    expect((await curl(server, KEPT, "/kept")).body).toBe(`web /kept via ${KEPT}`);
    expect((await tunnelInfo()).https.map((s: { domainName: string }) => s.domainName).sort()).toEqual([host, KEPT].sort());

    await stop(run, "SIGTERM");
    expect(savedConfig().https.map((r) => r.domain)).toEqual([KEPT]);
    expect((await tunnelInfo()).https.map((s: { domainName: string }) => s.domainName)).toEqual([KEPT]);
    expect((await cachedConfig()).https.map((r: { domain: string }) => r.domain)).toEqual([KEPT]);
    expect((await curl(server, host, "/")).status).toBe(404);
  });

  test("--domain D is printed as http://D and removed on SIGINT", async () => {
    const run = await quick(["http", String(webPort), "--domain", "Quick.Example.com"], /http:\/\/(quick\.example\.com)/);
    expect((await curl(server, "quick.example.com", "/q")).body).toBe("web /q via quick.example.com");
    expect(savedConfig().https.map((r) => r.domain)).toEqual([KEPT, "quick.example.com"]);
    await stop(run, "SIGINT");
    expect(savedConfig().https.map((r) => r.domain)).toEqual([KEPT]);
    expect((await tunnelInfo()).https.map((s: { domainName: string }) => s.domainName)).toEqual([KEPT]);
    expect((await curl(server, "quick.example.com", "/")).status).toBe(404);
  });

  test("a domain the configuration already has is refused, and kept", async () => {
    const r = await client.cli(["http", String(webPort), "--domain", KEPT]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`an HTTP rule for ${KEPT} already exists in this configuration`);
    expect(savedConfig().https.map((x) => x.domain)).toEqual([KEPT]);
  });

  test("usage errors: no port, a bad port", async () => {
    const none = await client.cli(["http"]);
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining("missing required positional argument: PORT")]);
    const bad = await client.cli(["tcp", "99999"]);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining("local port (99999) must be between 1 and 65535")]);
  });
});

describe("pktriot tcp PORT", () => {
  test("a freshly allocated port (host:port) echoes; SIGTERM releases it", async () => {
    const run = await quick(["tcp", String(echoPort)], /127\.0\.0\.1:(\d+)/);
    const port = Number(run.match[1]);
    expect(port).toBeGreaterThanOrEqual(server.portRange.begin);
    expect(port).toBeLessThanOrEqual(server.portRange.end);
    expect(savedConfig().ports).toEqual([{ port, destination: "127.0.0.1", dstPort: echoPort, firewall: [] }]);
    expect((await api.get("port/list")).json.ports).toContainEqual({ port, tunID: client.tunnelId });
    expect((await tcpExchange(port, Buffer.from("quick tcp"), 10_000)).received.toString()).toBe("quick tcp");

    await stop(run, "SIGTERM");
    expect(savedConfig().ports).toEqual([]);
    expect((await api.get("port/list")).json.ports).not.toContainEqual({ port, tunID: client.tunnelId });
    expect((await cachedConfig()).ports).toEqual([]);
    expect(await closedWithoutData(port)).toBe(true);
    expect(savedConfig().https.map((r) => r.domain)).toEqual([KEPT]);
  });
});
