// The Admin JSON API over real HTTPS against dist/spokes: every endpoint as the original
// Go client calls it (JSON headers on every request, `null` bodies on GET, a cookie jar),
// pagination of 120 tunnels with page-set expiry, and the errors clients meet.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { join } from "node:path";
import { openDatabase, type OpenDatabase } from "../../db/client.ts";
import { sessions, TUNNEL_STATE, tunnels } from "../../db/schema.ts";
import { insertPort, insertTunnel } from "../db-fixtures.ts";
import { waitFor } from "../helpers.ts";
import { ADMIN_API_BASE, AdminApiClient, JSON_HEADERS } from "./_admin-api-client.ts";
import { startServer, type TestServer } from "./_tunnel-harness.ts";

const BASE = ADMIN_API_BASE;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const HEX32 = /^[0-9a-f]{32}$/;
const PAGE_TTL_MS = 4000;

let server: TestServer;
let db: OpenDatabase;
let apiKey = "";

beforeAll(async () => {
  server = await startServer({ env: { SPOKES_PAGE_TTL_MS: String(PAGE_TTL_MS) } });
  db = await openDatabase({ path: join(server.dir, "spokes.db") });
  const r = server.cli(["apikey", "create", "--description", "e2e"]);
  expect(r.code).toBe(0);
  apiKey = r.stdout.trim().split("\n").at(-1)!.trim();
});
afterAll(() => db?.close());

/** A client like spokes-go: HTTPS, JSON headers always (GET too, with the body `null`), a cookie jar. */
class Client extends AdminApiClient {
  constructor() {
    super(() => server.httpsPort);
  }
}

async function loggedIn(): Promise<Client> {
  const c = new Client();
  const r = await c.post("auth", { key: apiKey });
  expect(r.json).toEqual({ status: true, message: "User authenticated" });
  return c;
}

describe("authentication and headers", () => {
  test("JSON headers are required", async () => {
    const c = await loggedIn();
    const a = await c.call("GET", "ping", null, { "Content-Type": "application/json" });
    expect(a.status).toBe(406);
    expect(a.json).toEqual({ status: false, error: "requests must send the header Accept: application/json" });
    const b = await c.call("GET", "ping", null, { Accept: "application/json" });
    expect(b.status).toBe(415);
    expect(b.json.status).toBe(false);
  });

  test("auth → cookie (Secure, HttpOnly, 24 h); ping, keepalive; logout ends it; wrong key refused", async () => {
    const c = new Client();
    expect((await c.get("ping")).status).toBe(401);
    expect(await c.post("auth", { key: "wrong" })).toMatchObject({ status: 401, json: { status: false, error: "invalid or revoked API key" } });
    const ok = await c.post("auth", { key: apiKey });
    const cookie = ok.setCookie.find((s) => s.startsWith("spokes_api="))!;
    expect(cookie).toMatch(/Max-Age=86400/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/HttpOnly/);
    expect((await c.get("ping")).json.status).toBe(true);
    expect((await c.get("keepalive")).json.status).toBe(true);
    const saved = c.cookie;
    expect((await c.get("logout")).json.status).toBe(true);
    c.cookie = saved;
    expect((await c.get("ping")).status).toBe(401);
  });

  test("an expired session is refused", async () => {
    const c = await loggedIn();
    await db.db.update(sessions).set({ expires: new Date(Date.now() - 1000) }).where(eq(sessions.kind, "api"));
    const r = await c.get("ping");
    expect(r.status).toBe(401);
    expect(r.json.error).toMatch(/not authenticated/);
  });

  test("Authorization: Bearer", async () => {
    const c = new Client();
    const r = await c.call("GET", "info", null, { ...JSON_HEADERS, Authorization: `Bearer ${apiKey}` });
    expect(r.json.status).toBe(true);
  });
});

describe("endpoints", () => {
  test("info and license/info", async () => {
    const c = await loggedIn();
    const info = (await c.get("info")).json;
    expect(info).toEqual({ status: true, version: expect.any(String), uptime: expect.any(Number), alerts: 0, activeTuns: expect.any(Number), onlineTuns: expect.any(Number), maxTuns: 0 });
    expect((await c.get("license/info")).json).toEqual({ status: true, maxTunnels: 0, expires: expect.stringMatching(RFC3339) });
  });

  test("registration tokens: create, list, edit, delete", async () => {
    const c = await loggedIn();
    const t = (await c.post("token/registration/create", { description: "e2e fleet", active: true })).json.token;
    expect(t).toEqual({ id: expect.stringMatching(HEX32), created: expect.stringMatching(RFC3339), modified: expect.stringMatching(RFC3339), active: true, description: "e2e fleet", value: expect.any(String) });
    expect((await c.get("token/registration/list")).json.tokens.map((x: { id: string }) => x.id)).toContain(t.id);
    expect((await c.post("token/registration/edit", { tokenID: t.id, description: "renamed", active: false })).json.token).toMatchObject({ description: "renamed", active: false });
    // The CLI sees the same token.
    expect(server.cli(["registration", "ls"]).stdout).toContain("renamed");
    expect((await c.post("token/registration/delete", { tokenID: t.id })).json.status).toBe(true);
    expect(await c.post("token/registration/delete", { tokenID: t.id })).toMatchObject({ status: 404, json: { status: false, error: `no registration token with id ${t.id}` } });
  });

  test("tunnels: info, auth, config, shutdown, unknown ids; ports", async () => {
    const c = await loggedIn();
    const { key, tunnelId } = server.createToken();
    await insertPort(db.db, server.portRange.begin, tunnelId);
    const info = (await c.get(`tunnel/info/${tunnelId}`)).json.tunnel;
    expect(info).toMatchObject({ id: tunnelId, state: 1, userID: "0".repeat(32), lastActive: "0001-01-01T00:00:00Z", bandwidth: { daily: 0, monthly: 0 } });
    expect(info.created).toMatch(RFC3339);
    expect(info.ports).toEqual([expect.objectContaining({ port: server.portRange.begin, tunID: tunnelId, protocol: 1 })]);
    expect((await c.get(`tunnel/auth/${tunnelId}`)).json.token).toMatchObject({ value: key, active: true });
    expect((await c.get(`tunnel/config/${tunnelId}`)).json).toEqual({ status: true, config: {} });
    expect((await c.get("port/list")).json.ports).toContainEqual({ port: server.portRange.begin, tunID: tunnelId });
    expect((await c.get("port/range")).json).toEqual({ status: true, range: server.portRange });
    expect((await c.get(`tunnel/shutdown/${tunnelId}`)).json.status).toBe(true);
    expect((await c.get(`tunnel/info/${tunnelId}`)).json.tunnel.state).toBe(4);
    expect((await c.get("port/list")).json.ports).not.toContainEqual({ port: server.portRange.begin, tunID: tunnelId });
    const unknown = "c".repeat(32);
    for (const p of ["info", "auth", "config", "shutdown"]) {
      expect(await c.get(`tunnel/${p}/${unknown}`)).toMatchObject({ status: 404, json: { status: false, error: `no tunnel with id ${unknown}` } });
    }
    expect((await c.get("tunnel/info/zzz")).status).toBe(400);
  });

  test("remote traffic management of an offline tunnel is refused with a clear error", async () => {
    const c = await loggedIn();
    const id = await insertTunnel(db.db, { state: TUNNEL_STATE.offline });
    const paths: [("GET" | "POST"), string, unknown][] = [
      ["POST", "http/update", { sites: [{ domain: "a.example.com", port: 80 }] }],
      ["POST", "http/remove", { domains: ["a.example.com"] }],
      ["GET", "tcp/allocate", null],
      ["POST", "tcp/release", { port: 1 }],
      ["POST", "tcp/update", { ports: [{ port: 1, destination: "x", dstPort: 1 }] }],
      ["POST", "tcp/reset", { ports: [1] }],
      ["POST", "portmap/update", { portmaps: [{ listenPort: 1, dstPort: 1, destination: "x", transport: "tcp" }] }],
      ["POST", "portmap/remove", { listenPorts: [1] }],
    ];
    for (const [method, path, body] of paths) {
      const r = await c.call(method, `tunnel/traffic/${path}/${id}`, body);
      expect([path, r.status, r.json.status, r.json.error]).toEqual([path, 409, false, `tunnel ${id} is offline: remote changes are sent to the connected client`]);
    }
    expect((await c.get(`tunnel/traffic/tcp/allocate/${"d".repeat(32)}`)).status).toBe(404);
  });
});

describe("lists, search and pagination", () => {
  let ids: string[] = [];
  beforeAll(async () => {
    await db.db.delete(tunnels);
    ids = [];
    for (let i = 0; i < 120; i++) {
      const id = await insertTunnel(db.db, {
        state: i % 3 === 0 ? TUNNEL_STATE.online : i % 3 === 1 ? TUNNEL_STATE.offline : TUNNEL_STATE.init,
        hostname: `bulk-${String(i).padStart(3, "0")}.spokes.test`,
        address: `10.0.${Math.floor(i / 100)}.${i % 100}`,
        created: new Date(Date.UTC(2024, 0, 1, 0, 0, i)),
        token: "none",
      });
      await db.db.update(tunnels).set({ os: i % 2 ? "linux" : "windows", arch: "x64", version: i < 60 ? "1.0.0" : "1.1.0" }).where(eq(tunnels.id, id));
      ids.push(id);
    }
  });

  test("list: 120 tunnels in pages of 50 with links; every page fetched; page sets expire", async () => {
    const c = await loggedIn();
    const first = (await c.get("tunnel/list")).json;
    expect(first.total).toBe(120);
    expect(first.tunnels).toHaveLength(50);
    expect(first.links.map((l: { order: number; count: number }) => [l.order, l.count])).toEqual([[1, 50], [2, 50], [3, 20]]);
    for (const l of first.links) expect(l).toEqual({ uid: expect.stringMatching(HEX32), order: expect.any(Number), count: expect.any(Number), url: `${BASE}/tunnel/page/${l.uid}` });
    const all: string[] = [];
    for (const l of first.links) all.push(...(await c.get(`tunnel/page/${l.uid}`)).json.tunnels.map((t: { id: string }) => t.id));
    expect(all).toEqual(ids);
    const t0 = first.tunnels[0];
    // "node" (the cluster node holding the tunnel) is this server's extension, after the original's fields.
    expect(Object.keys(t0)).toEqual(["id", "userID", "created", "lastActive", "state", "uptime", "bandwidth", "name", "hostname", "address", "version", "os", "arch", "node"]);
    const gone = await waitFor(async () => {
      const r = await c.get(`tunnel/page/${first.links[2].uid}`);
      return r.status === 404 ? r : null;
    }, "the page set to expire", PAGE_TTL_MS + 5000, 250);
    expect(gone.json).toEqual({ status: false, error: expect.stringContaining("page sets expire 4 s after the listing") });
  });

  test("list/active, list/online (details), search", async () => {
    const c = await loggedIn();
    expect((await c.get("tunnel/list/active")).json.total).toBe(120);
    const online = (await c.get("tunnel/list/online?details=true")).json;
    expect(online.total).toBe(40);
    expect(online.links).toEqual([]);
    expect(online.tunnels[0]).toMatchObject({ state: 2, https: [], ports: [] });
    const search = async (body: Record<string, string>) => (await c.post("tunnel/search", body)).json;
    expect((await search({ term: "bulk-007" })).tunnels.map((t: { id: string }) => t.id)).toEqual([ids[7]]);
    expect((await search({ term: "10.0.1.", os: "", arch: "", version: "" })).total).toBe(20);
    const lin = await search({ term: "", os: "linux", arch: "x64", version: "1.1.0" });
    expect(lin.total).toBe(30);
    expect(lin.links).toEqual([]);
    const big = await search({ term: "bulk" });
    expect(big.total).toBe(120);
    expect(big.links).toHaveLength(3);
  });
});
