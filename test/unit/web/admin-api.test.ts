// The Admin JSON API through app.request(): headers, auth, every endpoint, pagination
// and page expiry, errors, and remote traffic management against a fake live engine.
import { describe, expect, test } from "bun:test";
import { createAdminApiKey } from "../../../db/queries/admin-api-keys.ts";
import { addBandwidth } from "../../../db/queries/bandwidth.ts";
import { saveAnnouncedServices } from "../../../db/queries/live.ts";
import { createClusterStore } from "../../../db/queries/cluster.ts";
import { createRegistrationToken } from "../../../db/queries/registration-tokens.ts";
import { findOrCreateTunnelUser } from "../../../db/queries/users.ts";
import { TUNNEL_STATE, tunnels } from "../../../db/schema.ts";
import { eq } from "drizzle-orm";
import { insertPort, insertTunnel } from "../../db-fixtures.ts";
import { addAdmin, Browser, testWeb, tightLimits, type TestWeb } from "./web-helpers.ts";

const BASE = "/api/admin/v1.0";
const JSON_HEADERS = { accept: "application/json", "content-type": "application/json" };
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

/** An API client with a cookie jar, as the original Go client behaves (GET bodies are `null`). */
class Api {
  constructor(readonly b: Browser) {}
  async call(method: "GET" | "POST", path: string, body: unknown = null, headers: Record<string, string> = JSON_HEADERS) {
    const res = await this.b.request(`${BASE}/${path}`, { method, headers, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, any>, res };
  }
  get(path: string) {
    return this.call("GET", path);
  }
  post(path: string, body: unknown) {
    return this.call("POST", path, body);
  }
}

async function authed(w: TestWeb): Promise<Api> {
  const { value } = await createAdminApiKey(w.db, { description: "test" });
  const api = new Api(new Browser(w));
  const r = await api.post("auth", { key: value });
  expect(r.status).toBe(200);
  return api;
}

describe("headers and authentication", () => {
  test("JSON headers are required, GET with body null is fine", async () => {
    const w = await testWeb();
    const api = await authed(w);
    const noAccept = await api.call("GET", "ping", null, { "content-type": "application/json" });
    expect(noAccept.status).toBe(406);
    expect(noAccept.json).toEqual({ status: false, error: expect.stringContaining("Accept: application/json") });
    const noType = await api.call("GET", "ping", null, { accept: "application/json" });
    expect(noType.status).toBe(415);
    expect(noType.json.status).toBe(false);
    expect((await api.get("ping")).json).toEqual({ status: true, message: "pong" });
    const bad = await api.b.request(`${BASE}/token/registration/create`, { method: "POST", headers: JSON_HEADERS, body: "{nope" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ status: false, error: "request body is not valid JSON" });
  });

  test("auth sets a 24 h HttpOnly SameSite cookie (Secure on https); logout ends it", async () => {
    const w = await testWeb();
    const { value } = await createAdminApiKey(w.db);
    const api = new Api(new Browser(w));
    expect((await api.get("ping")).status).toBe(401);
    const wrong = await api.post("auth", { key: "nope" });
    expect(wrong).toMatchObject({ status: 401, json: { status: false, error: "invalid or revoked API key" } });
    const r = await api.post("auth", { key: value });
    expect(r.json).toEqual({ status: true, message: "User authenticated" });
    const cookie = r.res.headers.getSetCookie().find((c) => c.startsWith("spokes_api="))!;
    expect(cookie).toMatch(/Max-Age=86400/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Secure/);
    expect((await api.get("keepalive")).json.status).toBe(true);
    const saved = api.b.cookies.get("spokes_api")!;
    expect((await api.get("logout")).json).toEqual({ status: true, message: "Session ended" });
    // The old cookie no longer works, even if a client kept it.
    api.b.cookies.set("spokes_api", saved);
    expect((await api.get("ping")).status).toBe(401);
    expect((await api.get("logout")).status).toBe(401);
  });

  test("the session expires after 24 h", async () => {
    const w = await testWeb();
    const api = await authed(w);
    w.clock.now += 24 * 3600_000 + 1000;
    const r = await api.get("ping");
    expect(r.status).toBe(401);
    expect(r.json.error).toMatch(/not authenticated/);
  });

  test("Bearer key works without a session; a dashboard session works too", async () => {
    const w = await testWeb();
    const { value } = await createAdminApiKey(w.db);
    const b = new Browser(w);
    const r = await b.request(`${BASE}/ping`, { headers: { ...JSON_HEADERS, authorization: `Bearer ${value}` } });
    expect(r.status).toBe(200);
    const bad = await b.request(`${BASE}/ping`, { headers: { ...JSON_HEADERS, authorization: "Bearer wrong" } });
    expect(bad.status).toBe(401);
    await addAdmin(w.db);
    const dash = new Browser(w);
    await dash.login();
    expect((await new Api(dash).get("info")).status).toBe(200);
  });

  test("auth attempts are rate limited per address", async () => {
    const w = await testWeb({ limits: tightLimits(3) });
    const api = new Api(new Browser(w));
    for (let i = 0; i < 3; i++) expect((await api.post("auth", { key: `wrong${i}` })).status).toBe(401);
    const r = await api.post("auth", { key: "wrong" });
    expect(r.status).toBe(429);
    expect(r.res.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(r.json.error).toMatch(/too many attempts/);
  });

  test("unknown endpoints answer JSON 404", async () => {
    const w = await testWeb();
    const api = await authed(w);
    expect(await api.get("nope")).toMatchObject({ status: 404, json: { status: false, error: "unknown endpoint GET /api/admin/v1.0/nope" } });
  });
});

describe("server info", () => {
  test("info and license/info", async () => {
    const w = await testWeb();
    await insertTunnel(w.db, { state: TUNNEL_STATE.online });
    await insertTunnel(w.db, { state: TUNNEL_STATE.offline });
    await insertTunnel(w.db, { state: TUNNEL_STATE.shutdown });
    const api = await authed(w);
    w.clock.now += 5000;
    const info = (await api.get("info")).json;
    expect(info).toEqual({ status: true, version: expect.any(String), uptime: 5, alerts: 0, activeTuns: 2, onlineTuns: 1, maxTuns: 0 });
    expect((await api.get("license/info")).json).toEqual({ status: true, maxTunnels: 0, expires: expect.stringMatching(RFC3339) });
  });
});

describe("registration tokens", () => {
  test("list, create, edit, delete with the original's field names and types", async () => {
    const w = await testWeb();
    const api = await authed(w);
    expect((await api.get("token/registration/list")).json).toEqual({ status: true, tokens: [] });
    const created = await api.post("token/registration/create", { description: "fleet A", active: true });
    const token = created.json.token;
    expect(token).toEqual({ id: expect.stringMatching(/^[0-9a-f]{32}$/), created: expect.stringMatching(RFC3339), modified: expect.stringMatching(RFC3339), active: true, description: "fleet A", value: expect.any(String) });
    const edited = await api.post("token/registration/edit", { tokenID: token.id, description: "fleet B", active: false });
    expect(edited.json.token).toMatchObject({ id: token.id, description: "fleet B", active: false });
    expect((await api.get("token/registration/list")).json.tokens).toHaveLength(1);
    expect((await api.post("token/registration/delete", { tokenID: token.id })).json.status).toBe(true);
    expect((await api.get("token/registration/list")).json.tokens).toEqual([]);
  });

  test("unknown and malformed ids, bad types", async () => {
    const w = await testWeb();
    const api = await authed(w);
    const unknown = await api.post("token/registration/edit", { tokenID: "a".repeat(32), description: "x", active: true });
    expect(unknown).toMatchObject({ status: 404, json: { status: false, error: `no registration token with id ${"a".repeat(32)}` } });
    expect((await api.post("token/registration/delete", { tokenID: "xyz" })).status).toBe(400);
    expect((await api.post("token/registration/delete", {})).json.error).toBe("tokenID is required");
    expect((await api.post("token/registration/create", { active: "yes" })).status).toBe(400);
  });
});

describe("tunnels", () => {
  test("tunnel object fields and types; list, active, online, search", async () => {
    const w = await testWeb();
    const user = await findOrCreateTunnelUser(w.db, "fleet-1");
    const on = await insertTunnel(w.db, { state: TUNNEL_STATE.online, userId: user.id, hostname: "edge-1.spokes.test", address: "198.51.100.9", connectedAt: new Date(w.clock.now - 60_000) });
    await w.db.update(tunnels).set({ os: "linux", arch: "arm64", version: "1.2.0", lastActive: new Date() }).where(eq(tunnels.id, on));
    const off = await insertTunnel(w.db, { state: TUNNEL_STATE.offline, hostname: "edge-2.spokes.test" });
    const shut = await insertTunnel(w.db, { state: TUNNEL_STATE.shutdown });
    await addBandwidth(w.db, [{ tunnelId: on, service: "", bytesIn: 1000, bytesOut: 500 }]);
    const api = await authed(w);

    const all = (await api.get("tunnel/list")).json;
    expect(all.total).toBe(3);
    expect(all.links).toEqual([]);
    const t = all.tunnels.find((x: { id: string }) => x.id === on);
    expect(t).toEqual({
      id: on,
      userID: user.id,
      created: expect.stringMatching(RFC3339),
      lastActive: expect.stringMatching(RFC3339),
      state: 2,
      uptime: expect.any(Number),
      bandwidth: { daily: 1500, monthly: 1500 },
      name: "",
      hostname: "edge-1.spokes.test",
      address: "198.51.100.9",
      version: "1.2.0",
      os: "linux",
      arch: "arm64",
      node: "", // extension: the cluster node holding the tunnel ("" outside a cluster)
    });
    expect(t.uptime).toBeGreaterThanOrEqual(59);
    const offT = all.tunnels.find((x: { id: string }) => x.id === off);
    expect(offT.userID).toBe("0".repeat(32));
    expect(offT.lastActive).toBe("0001-01-01T00:00:00Z");

    expect((await api.get("tunnel/list/active")).json.tunnels.map((x: { id: string }) => x.id).sort()).toEqual([on, off].sort());
    expect((await api.get("tunnel/list/online")).json.tunnels.map((x: { id: string }) => x.id)).toEqual([on]);
    expect((await api.get("tunnel/list")).json.tunnels.map((x: { id: string }) => x.id)).toContain(shut);

    const search = async (body: Record<string, string>) => (await api.post("tunnel/search", body)).json.tunnels.map((x: { id: string }) => x.id);
    expect(await search({ term: "EDGE-1" })).toEqual([on]);
    expect(await search({ term: "fleet-1" })).toEqual([on]);
    expect(await search({ term: "198.51" })).toEqual([on]);
    expect(await search({ term: off.slice(0, 10) })).toEqual([off]);
    expect(await search({ term: "", os: "linux", arch: "arm64", version: "1.2" })).toEqual([on]);
    expect(await search({ term: "%" })).toEqual([]);
    expect((await api.post("tunnel/search", { term: 5 })).status).toBe(400);
  });

  test("details: https[] and ports[] services with bandwidth (and the mesh access extension fields)", async () => {
    const w = await testWeb();
    const id = await insertTunnel(w.db, { state: TUNNEL_STATE.online });
    await insertPort(w.db, 30001, id);
    await saveAnnouncedServices(w.db, { id, userId: null }, [{ domain: "app.example.com", secure: true, available: true }], [{ port: 30001, available: true }], {
      https: [{ domain: "app.example.com", meshAllow: ["user:bob"] }],
      ports: [{ port: 30001, private: true, meshAllow: [`tunnel:${"b".repeat(32)}`] }],
    });
    await addBandwidth(w.db, [
      { tunnelId: id, service: "app.example.com", bytesIn: 10, bytesOut: 20 },
      { tunnelId: id, service: "30001", bytesIn: 5, bytesOut: 5 },
    ]);
    const api = await authed(w);
    const info = (await api.get(`tunnel/info/${id}`)).json.tunnel;
    expect(info.https).toEqual([
      { id: expect.stringMatching(/^[0-9a-f]{32}$/), userID: "0".repeat(32), tunID: id, active: true, available: true, secure: true, domainName: "app.example.com", bandwidth: { daily: 30, monthly: 30 }, meshAllow: ["user:bob"] },
    ]);
    expect(info.ports).toEqual([
      { id: expect.stringMatching(/^[0-9a-f]{32}$/), userID: "0".repeat(32), tunID: id, active: true, available: true, protocol: 1, port: 30001, bandwidth: { daily: 10, monthly: 10 }, label: "", private: true, meshAllow: [`tunnel:${"b".repeat(32)}`] },
    ]);
    const online = (await api.get("tunnel/list/online?details=true")).json.tunnels[0];
    expect(online.https).toHaveLength(1);
    expect(online.ports).toHaveLength(1);
    expect((await api.get("tunnel/list/online")).json.tunnels[0].https).toBeUndefined();
  });

  test("pagination: 120 tunnels in pages of 50, page uids expire", async () => {
    const w = await testWeb({ pageTtlMs: 60_000 });
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) ids.push(await insertTunnel(w.db, { created: new Date(Date.UTC(2024, 0, 1, 0, 0, i)), token: "none" }));
    const api = await authed(w);
    const first = (await api.get("tunnel/list")).json;
    expect(first.total).toBe(120);
    expect(first.tunnels).toHaveLength(50);
    expect(first.links).toHaveLength(3);
    expect(first.links.map((l: { order: number; count: number }) => [l.order, l.count])).toEqual([
      [1, 50],
      [2, 50],
      [3, 20],
    ]);
    for (const l of first.links) expect(l).toEqual({ uid: expect.stringMatching(/^[0-9a-f]{32}$/), order: expect.any(Number), count: expect.any(Number), url: `${BASE}/tunnel/page/${l.uid}` });
    const got: string[] = [];
    for (const l of first.links) {
      const page = (await api.get(`tunnel/page/${l.uid}`)).json;
      expect(page.tunnels).toHaveLength(l.count);
      got.push(...page.tunnels.map((t: { id: string }) => t.id));
    }
    expect(got).toEqual(ids);
    w.clock.now += 60_001;
    const gone = await api.get(`tunnel/page/${first.links[1].uid}`);
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({ status: false, error: expect.stringContaining("page sets expire 60 s after the listing") });
  });

  test("info, auth, config, shutdown by id; unknown and malformed ids", async () => {
    const w = await testWeb();
    const id = await insertTunnel(w.db, { state: TUNNEL_STATE.online, hostname: "h.spokes.test" });
    await w.db.update(tunnels).set({ config: JSON.stringify({ https: [{ domain: "cached.example.com" }] }) }).where(eq(tunnels.id, id));
    const api = await authed(w);
    expect((await api.get(`tunnel/info/${id}`)).json.tunnel).toMatchObject({ hostname: "h.spokes.test", node: "" });
    // Cluster mode: the node holding the tunnel's connection (its location), in info and listings.
    await createClusterStore(w.db).saveLocation({ tunnelId: id, nodeId: "node-b", epoch: "e", userId: null, hostname: "", https: [], ports: [] });
    expect((await api.get(`tunnel/info/${id}`)).json.tunnel.node).toBe("node-b");
    expect((await api.get("tunnel/list/online")).json.tunnels.map((t: { node: string }) => t.node)).toEqual(["node-b"]);
    const auth = (await api.get(`tunnel/auth/${id}`)).json.token;
    expect(auth).toEqual({ id: expect.stringMatching(/^[0-9a-f]{32}$/), created: expect.stringMatching(RFC3339), modified: expect.stringMatching(RFC3339), active: true, description: "", value: expect.any(String) });
    // Offline (not live): the cached configuration.
    expect((await api.get(`tunnel/config/${id}`)).json.config).toEqual({ https: [{ domain: "cached.example.com" }] });
    // Live: what the client announced.
    w.live.online.add(id);
    expect((await api.get(`tunnel/config/${id}`)).json.config.https).toEqual([]);
    expect((await api.get(`tunnel/shutdown/${id}`)).json.status).toBe(true);
    expect(w.live.disconnected).toEqual([id]);
    expect((await api.get(`tunnel/info/${id}`)).json.tunnel.state).toBe(4);
    expect((await api.get(`tunnel/auth/${id}`)).json.token.active).toBe(false);

    const unknown = "f".repeat(32);
    for (const path of ["info", "auth", "config", "shutdown"]) {
      expect(await api.get(`tunnel/${path}/${unknown}`)).toMatchObject({ status: 404, json: { status: false, error: `no tunnel with id ${unknown}` } });
      expect((await api.get(`tunnel/${path}/not-an-id`)).status).toBe(400);
    }
  });
});

describe("ports", () => {
  test("port list and range", async () => {
    const w = await testWeb();
    const id = await insertTunnel(w.db);
    await insertPort(w.db, 30002, id);
    const api = await authed(w);
    expect((await api.get("port/list")).json).toEqual({ status: true, ports: [{ port: 30002, tunID: id }] });
    expect((await api.get("port/range")).json).toEqual({ status: true, range: { begin: 30000, end: 30009 } });
  });
});

describe("remote traffic management", () => {
  async function online(w: TestWeb) {
    const id = await insertTunnel(w.db, { state: TUNNEL_STATE.online });
    w.live.online.add(id);
    return id;
  }

  test("http update/remove reach the client and are validated first", async () => {
    const w = await testWeb();
    const id = await online(w);
    const api = await authed(w);
    const ok = await api.post(`tunnel/traffic/http/update/${id}`, { sites: [{ domain: "app.example.com", destination: "127.0.0.1", port: 8080, secure: true }] });
    expect(ok.json).toEqual({ status: true, message: "Change applied" });
    expect(w.live.configs.get(id)!.https.map((h) => [h.domain, h.port])).toEqual([["app.example.com", 8080]]);
    const bad = await api.post(`tunnel/traffic/http/update/${id}`, { sites: [{ domain: "x.example.com", port: 70000 }] });
    expect(bad).toMatchObject({ status: 400, json: { status: false, error: "sites[0].port (70000) must be between 1 and 65535" } });
    const plain = await api.post(`tunnel/traffic/http/update/${id}`, { sites: [{ domain: "x.example.com", port: 80, password: "hunter2" }] });
    expect(plain.json.error).toMatch(/salted password hash/);
    const own = await api.post(`tunnel/traffic/http/update/${id}`, { sites: [{ domain: "spokes.test", port: 80 }] });
    expect(own.json.error).toBe("domain spokes.test is the server's own domain");
    const other = await online(w);
    await saveAnnouncedServices(w.db, { id: other, userId: null }, [{ domain: "taken.example.com", secure: false, available: true }], [], {});
    expect(await api.post(`tunnel/traffic/http/update/${id}`, { sites: [{ domain: "taken.example.com", port: 80 }] })).toMatchObject({ status: 409 });
    expect((await api.post(`tunnel/traffic/http/remove/${id}`, { domains: ["nope.example.com"] })).json.error).toBe("no HTTP rule for nope.example.com");
    expect((await api.post(`tunnel/traffic/http/remove/${id}`, { domains: ["app.example.com"] })).json.status).toBe(true);
    expect(w.live.configs.get(id)!.https).toEqual([]);
  });

  test("tcp allocate, update, reset, release; port maps", async () => {
    const w = await testWeb();
    const id = await online(w);
    const api = await authed(w);
    const alloc = (await api.get(`tunnel/traffic/tcp/allocate/${id}`)).json;
    expect(alloc).toEqual({ status: true, ports: [{ port: expect.any(Number), tunID: id }] });
    const port = alloc.ports[0].port;
    expect(port).toBeGreaterThanOrEqual(30000);
    expect((await api.get("port/list")).json.ports).toEqual([{ port, tunID: id }]);
    expect((await api.post(`tunnel/traffic/tcp/update/${id}`, { ports: [{ port, destination: "127.0.0.1", dstPort: 22 }] })).json.status).toBe(true);
    expect(w.live.configs.get(id)!.ports).toEqual([{ port, destination: "127.0.0.1", dstPort: 22, firewall: [] }]);
    const notMine = await api.post(`tunnel/traffic/tcp/update/${id}`, { ports: [{ port: 30009 === port ? 30008 : 30009, destination: "127.0.0.1", dstPort: 22 }] });
    expect(notMine.json.error).toMatch(/is not allocated to this tunnel/);
    expect((await api.post(`tunnel/traffic/tcp/reset/${id}`, { ports: [port] })).json.status).toBe(true);
    expect(w.live.configs.get(id)!.ports[0]!.destination).toBe("");
    expect((await api.post(`tunnel/traffic/tcp/release/${id}`, { port })).json.status).toBe(true);
    expect((await api.get("port/list")).json.ports).toEqual([]);
    expect(w.live.configs.get(id)!.ports).toEqual([]);

    expect((await api.post(`tunnel/traffic/portmap/update/${id}`, { portmaps: [{ listenPort: 6379, dstPort: 6379, destination: "redis", transport: "tcp" }] })).json.status).toBe(true);
    expect(w.live.configs.get(id)!.portmaps).toHaveLength(1);
    expect((await api.post(`tunnel/traffic/portmap/remove/${id}`, { listenPorts: [6379] })).json.status).toBe(true);
    expect(w.live.configs.get(id)!.portmaps).toEqual([]);
    expect(w.live.applied.map((a) => a.change.kind)).toEqual(["tcp/add", "tcp/update", "tcp/reset", "tcp/release", "portmap/update", "portmap/remove"]);
  });

  test("offline tunnel, unknown tunnel, a client that refuses, allocation rolled back", async () => {
    const w = await testWeb();
    const api = await authed(w);
    const off = await insertTunnel(w.db, { state: TUNNEL_STATE.offline });
    expect(await api.post(`tunnel/traffic/http/update/${off}`, { sites: [{ domain: "a.example.com", port: 80 }] })).toMatchObject({ status: 409, json: { status: false } });
    expect((await api.get(`tunnel/traffic/tcp/allocate/${"e".repeat(32)}`)).status).toBe(404);
    const id = await online(w);
    w.live.refuse = "disk full";
    const r = await api.get(`tunnel/traffic/tcp/allocate/${id}`);
    expect(r).toMatchObject({ status: 502, json: { status: false, error: "the client did not apply the change: disk full" } });
    expect((await api.get("port/list")).json.ports).toEqual([]);
    expect((await api.post(`tunnel/traffic/http/update/${id}`, { sites: "nope" })).json.error).toBe("sites must be an array");
  });
});

test("registration token made by the API registers through the client API", async () => {
  const w = await testWeb();
  const token = await createRegistrationToken(w.db, { description: "x" });
  const res = await w.app.request("/api/client/v1/register", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ token: token.value }) });
  expect(res.status).toBe(200);
  expect((await res.json()).status).toBe(true);
});
