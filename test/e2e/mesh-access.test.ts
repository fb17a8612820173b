// End-to-end: mesh-only (private) ports and mesh access lists through the real dist/
// executables. Three tunnels: A serves a redis-server on a private port that only tunnel B
// may reach, the same redis on an ordinary public port (no list: today's behaviour), and a
// web app (HTTP rule) for tunnel user "bob" (B's registration id). C (user "carol") is
// refused where B is let in: `ports map` + redis-cli, the clients' SOCKS proxies with curl,
// and public SOCKS logins with each tunnel's auth token. Listings, the Admin API round trip
// and live changes from the CLI are checked on the same fixture.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connectRaw } from "../unit/socks/raw-client.ts";
import { freePort, waitFor } from "../helpers.ts";
import { AdminApiClient } from "./_admin-api-client.ts";
import { socksRequest } from "./_socks-client.ts";
import { canConnect, configureClient, httpUpstream, mustRun, runAsync, spawnLogged, startServer, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";

const APP = "team-app.spokes.test";

let server: TestServer;
let api: AdminApiClient;
let a: TestClient;
let b: TestClient;
let c: TestClient;
let socksPort: number;
let redisPort: number;
/** A's private port (redis, tunnel B only) and public port (redis, no list). */
let privatePort: number;
let publicPort: number;
/** Local port maps: B and C onto the private port, C onto the public one. */
let bMap: number;
let cMap: number;
let cPublicMap: number;
let bSocks: number;
let cSocks: number;

const keyOf = (client: TestClient): string => JSON.parse(readFileSync(client.configPath, "utf8")).key;

async function redis(port: number, ...args: string[]): Promise<string> {
  const r = await runAsync(["redis-cli", "-h", "127.0.0.1", "-p", String(port), ...args], { timeoutMs: 15_000 });
  return (r.stdout + r.stderr).trim();
}

const curlSocks = (proxyPort: number, url: string) => runAsync(["curl", "-sS", "--max-time", "15", "--socks5-hostname", `127.0.0.1:${proxyPort}`, url], { timeoutMs: 20_000 });

/** A public SOCKS CONNECT logged in with `token`: the reply code, and PING's answer when connected. */
async function publicSocks(token: string, port: number): Promise<{ code: number; ping?: string }> {
  const conn = await connectRaw(socksPort);
  try {
    const r = await socksRequest(conn, { host: "redis.internal", port }, { password: token });
    if (r.stage !== "reply") throw new Error(`SOCKS ${r.stage} failed: ${r.code}`);
    if (r.code !== 0) return { code: r.code };
    await conn.write("PING\r\n");
    return { code: 0, ping: new TextDecoder().decode(await conn.read(7)) };
  } finally {
    conn.socket.end();
  }
}

beforeAll(async () => {
  redisPort = await freePort();
  const redisProc = spawnLogged(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
  await redisProc.log.waitFor("Ready to accept connections", { proc: redisProc.proc });
  const app = httpUpstream({ fetch: (req) => new Response(`team app saw ${req.headers.get("host")}\n`) });

  socksPort = await freePort();
  server = await startServer({ config: { socks: { enabled: true, port: socksPort, tlsPort: 0, auth: "token", allow: [] } } });
  const key = server.cli(["apikey", "create", "--description", "e2e mesh access"]);
  if (key.code !== 0) throw new Error(`apikey create: ${key.stderr}`);
  api = await new AdminApiClient(() => server.httpsPort).login(key.stdout.trim().split("\n").at(-1)!.trim());

  const reg = server.cli(["registration", "create", "--description", "mesh access"]);
  const registration = reg.stdout.trim().split("\n").at(-1)!.trim();
  a = await configureClient(server);
  b = await configureClient(server, { registration, id: "bob" });
  c = await configureClient(server, { registration, id: "carol" });

  const alloc = await mustRun(a, ["tunnel", "tcp", "allocate", "--private"]);
  privatePort = Number(alloc.match(/^Allocated port (\d+) \(private: reachable through the mesh only\)$/m)![1]);
  const fwd = await mustRun(a, ["tunnel", "tcp", "forward", "--port", String(privatePort), "--dstport", String(redisPort), "--mesh-allow", `tunnel:${b.tunnelId}`]);
  expect(fwd.trim()).toBe(`Forwarding port ${privatePort} to 127.0.0.1:${redisPort} (private; mesh access: tunnel:${b.tunnelId})`);
  publicPort = await a.allocatePort();
  await mustRun(a, ["tunnel", "tcp", "forward", "--port", String(publicPort), "--dstport", String(redisPort)]);
  await mustRun(a, ["tunnel", "http", "add", "--domain", APP, "--http", String(app.port), "--mesh-allow", "user:bob"]);
  await a.start();

  [bMap, cMap, cPublicMap, bSocks, cSocks] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  await mustRun(b, ["ports", "map", String(bMap), "--transport", "tcp", "--destination", "redis", "--port", String(privatePort)]);
  await mustRun(b, ["proxies", "socks", "listen", String(bSocks)]);
  await mustRun(c, ["ports", "map", String(cMap), "--transport", "tcp", "--destination", "redis", "--port", String(privatePort)]);
  await mustRun(c, ["ports", "map", String(cPublicMap), "--transport", "tcp", "--destination", "redis", "--port", String(publicPort)]);
  await mustRun(c, ["proxies", "socks", "listen", String(cSocks)]);
  await b.start();
  await c.start();
  await c.log.waitFor(`SOCKS5 proxy on 127.0.0.1:${cSocks}`);
  await b.log.waitFor(`SOCKS5 proxy on 127.0.0.1:${bSocks}`);
  // A's rules are announced right after it is online: wait until its ports are routed.
  await waitFor(async () => (await redis(publicPort, "PING")) === "PONG", "A's public port answering", 15_000, 100);
}, 90_000);

afterAll(() => stopAll());

describe("a private port with a mesh access list (tunnel B only)", () => {
  test("B's ports map reaches the redis behind A: redis-cli PING, SET, GET", async () => {
    await waitFor(async () => (await redis(bMap, "PING")) === "PONG", "B's port map answering", 15_000, 100);
    expect(await redis(bMap, "SET", "acl:key", "from B")).toBe("OK");
    expect(await redis(redisPort, "GET", "acl:key")).toBe("from B");
  });

  test("C's ports map is refused: redis-cli fails, C logs reply 0x02, the server logs why", async () => {
    const out = await redis(cMap, "PING");
    expect(out).not.toContain("PONG");
    await c.log.waitFor(`port map ${cMap} → redis:${privatePort}: server refused redis:${privatePort}: connection not allowed by ruleset (reply 0x02)`);
    await server.log.waitFor(`mesh dial redis:${privatePort} from tunnel ${c.tunnelId} refused: port ${privatePort}: tunnel ${c.tunnelId} (user carol) is not in the service's mesh access list`);
  });

  test("C's local SOCKS proxy answers 0x02 for it", async () => {
    const conn = await connectRaw(cSocks);
    expect(await socksRequest(conn, { host: "redis", port: privatePort })).toEqual({ stage: "reply", code: 0x02 });
    conn.socket.end();
  });

  test("no public listener: a connection to the port number from outside is refused", async () => {
    expect(await canConnect(privatePort)).toBe(false);
    expect(await redis(privatePort, "PING")).toContain("Connection refused");
    expect(await canConnect(publicPort)).toBe(true);
  });

  test("public SOCKS logins are limited to what the token's tunnel may reach: B's token yes, C's 0x02, A's (the owner) yes", async () => {
    expect(await publicSocks(keyOf(b), privatePort)).toEqual({ code: 0, ping: "+PONG\r\n" });
    expect(await publicSocks(keyOf(c), privatePort)).toEqual({ code: 0x02 });
    expect(await publicSocks(keyOf(a), privatePort)).toEqual({ code: 0, ping: "+PONG\r\n" });
    await server.log.waitFor(`SOCKS dial redis.internal:${privatePort} from 127.0.0.1 refused: port ${privatePort}: tunnel ${c.tunnelId}`);
  });
});

describe("services without a list behave as before", () => {
  test("C's ports map to A's public port works, and any token's public SOCKS login reaches it", async () => {
    await waitFor(async () => (await redis(cPublicMap, "PING")) === "PONG", "C's map of the public port", 15_000, 100);
    expect(await publicSocks(keyOf(c), publicPort)).toEqual({ code: 0, ping: "+PONG\r\n" });
    expect(await redis(publicPort, "PING")).toBe("PONG");
  });
});

describe("an HTTP rule for tunnel user bob", () => {
  test("B (user bob) reaches the web app through its SOCKS proxy; C (user carol) gets 0x02 (curl exit 97)", async () => {
    const ok = await curlSocks(bSocks, `http://${APP}/`);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe(`team app saw ${APP}\n`);
    const refused = await curlSocks(cSocks, `http://${APP}/`);
    expect(refused.code).toBe(97);
    const conn = await connectRaw(cSocks);
    expect(await socksRequest(conn, { host: APP, port: 80 })).toEqual({ stage: "reply", code: 0x02 });
    conn.socket.end();
  });
});

describe("listings", () => {
  test("pktriot tunnel tcp ls and http ls show the listener and the list", async () => {
    const ls = await mustRun(a, ["tunnel", "tcp", "ls"]);
    expect(ls).toMatch(new RegExp(`\\| ${privatePort} \\| 127\\.0\\.0\\.1\\s+\\| ${redisPort}\\s*\\| private\\s+\\| tunnel:${b.tunnelId} \\|`));
    expect(ls).toMatch(new RegExp(`\\| ${publicPort} \\| 127\\.0\\.0\\.1\\s+\\| ${redisPort}\\s*\\| public\\s+\\| any tunnel\\s+\\|`));
    const json = JSON.parse(await mustRun(a, ["tunnel", "tcp", "ls", "--json"])) as { port: number; private: boolean; meshAllow: string[] }[];
    expect(json.find((p) => p.port === privatePort)).toMatchObject({ private: true, meshAllow: [`tunnel:${b.tunnelId}`] });
    expect(json.find((p) => p.port === publicPort)).toMatchObject({ private: false, meshAllow: [] });
    expect(await mustRun(a, ["tunnel", "http", "ls"])).toMatch(new RegExp(`\\| ${APP.replace(/\./g, "\\.")} .*\\| user:bob\\s+\\|`));
  });

  test("spokes port ls: a Private column, and private + meshAllow in --json", () => {
    const table = server.cli(["port", "ls"]).stdout;
    expect(table).toContain("| Private |");
    expect(table).toMatch(new RegExp(`\\| ${privatePort} .*\\| true\\s+\\|\\n`));
    const rows = server.json<{ port: number; private: boolean; meshAllow: string[] }[]>(["port", "ls", "--json"]);
    expect(rows.find((p) => p.port === privatePort)).toMatchObject({ private: true, meshAllow: [`tunnel:${b.tunnelId}`] });
    expect(rows.find((p) => p.port === publicPort)).toMatchObject({ private: false, meshAllow: [] });
  });
});

describe("Admin API", () => {
  test("tunnel/info and tunnel/config show the fields; tcp/update and http/update round-trip them; a bad entry is named", async () => {
    const info = (await api.get(`tunnel/info/${a.tunnelId}`)).json.tunnel;
    expect(info.ports.find((p: { port: number }) => p.port === privatePort)).toMatchObject({ port: privatePort, protocol: 1, private: true, meshAllow: [`tunnel:${b.tunnelId}`] });
    expect(info.https.find((h: { domainName: string }) => h.domainName === APP)).toMatchObject({ meshAllow: ["user:bob"] });
    let config = (await api.get(`tunnel/config/${a.tunnelId}`)).json.config;
    expect(config.ports.find((p: { port: number }) => p.port === privatePort)).toMatchObject({ private: true, meshAllow: [`tunnel:${b.tunnelId}`] });

    // Swap who may reach the private port: C in, B out.
    const port = { port: privatePort, destination: "127.0.0.1", dstPort: redisPort, meshAllow: [`tunnel:${c.tunnelId}`] };
    let r = await api.post(`tunnel/traffic/tcp/update/${a.tunnelId}`, { ports: [port] });
    expect(r.json).toEqual({ status: true, message: "Change applied" });
    config = (await api.get(`tunnel/config/${a.tunnelId}`)).json.config;
    // Left out of the update, `private` stays as it was.
    expect(config.ports.find((p: { port: number }) => p.port === privatePort)).toMatchObject({ private: true, meshAllow: [`tunnel:${c.tunnelId}`] });
    expect(JSON.parse(readFileSync(a.configPath, "utf8")).ports.find((p: { port: number }) => p.port === privatePort).meshAllow).toEqual([`tunnel:${c.tunnelId}`]);
    await waitFor(async () => (await redis(cMap, "PING")) === "PONG", "C let in", 15_000, 100);
    expect(await publicSocks(keyOf(b), privatePort)).toEqual({ code: 0x02 });

    r = await api.post(`tunnel/traffic/tcp/update/${a.tunnelId}`, { ports: [{ ...port, meshAllow: ["tunnel:B"] }] });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe('ports[0].meshAllow[0] ("tunnel:B") must be tunnel:<tunnel id> or user:<user name or id>');

    // HTTP: the site for carol instead of bob.
    const site = config.https.find((h: { domain: string }) => h.domain === APP);
    r = await api.post(`tunnel/traffic/http/update/${a.tunnelId}`, { sites: [{ ...site, meshAllow: ["user:carol"] }] });
    expect(r.json.status).toBe(true);
    expect((await api.get(`tunnel/info/${a.tunnelId}`)).json.tunnel.https.find((h: { domainName: string }) => h.domainName === APP).meshAllow).toEqual(["user:carol"]);
    await waitFor(async () => (await curlSocks(cSocks, `http://${APP}/`)).code === 0, "carol let in", 15_000, 100);
    expect((await curlSocks(bSocks, `http://${APP}/`)).code).toBe(97);

    // Back to the fixture's lists for the tests after this one.
    await api.post(`tunnel/traffic/tcp/update/${a.tunnelId}`, { ports: [{ ...port, meshAllow: [`tunnel:${b.tunnelId}`] }] });
    await api.post(`tunnel/traffic/http/update/${a.tunnelId}`, { sites: [{ ...site, meshAllow: ["user:bob"] }] });
  }, 60_000);
});

describe("live changes from the CLI while A runs", () => {
  test("--public opens the port's public listener, --private closes it again; --mesh-allow any opens the list", async () => {
    const forward = ["tunnel", "tcp", "forward", "--port", String(privatePort), "--dstport", String(redisPort)];
    expect(await mustRun(a, [...forward, "--public"])).toContain(`The list limits the mesh only: port ${privatePort} is still public (add --private to make it mesh-only)`);
    await waitFor(async () => (await redis(privatePort, "PING")) === "PONG", "the public listener opened", 15_000, 100);
    // The list was kept (no --mesh-allow given): C still refused through the mesh.
    expect(await publicSocks(keyOf(c), privatePort)).toEqual({ code: 0x02 });

    await mustRun(a, [...forward, "--private", "--mesh-allow", "any"]);
    await waitFor(async () => !(await canConnect(privatePort)), "the public listener closed", 15_000, 100);
    await waitFor(async () => (await redis(cMap, "PING")) === "PONG", "C let in once the list is empty", 15_000, 100);

    const bad = await a.cli([...forward, "--mesh-allow", "carol"]);
    expect(bad).toEqual({ code: 1, stdout: "", stderr: 'error: --mesh-allow "carol" must be tunnel:<tunnel id> or user:<user name or id>\n' });
  }, 60_000);
});
