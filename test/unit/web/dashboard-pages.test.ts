// Every dashboard page and form through app.request(), signed in as an admin.
import { beforeEach, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { listAdminApiKeys, verifyAdminApiKey } from "../../../db/queries/admin-api-keys.ts";
import { addBandwidth } from "../../../db/queries/bandwidth.ts";
import { writeTrafficBatch } from "../../../db/queries/live.ts";
import { createClusterStore } from "../../../db/queries/cluster.ts";
import { listRegistrationTokens } from "../../../db/queries/registration-tokens.ts";
import { loadSettings } from "../../../db/queries/settings.ts";
import { findUserByEmail, findOrCreateTunnelUser, verifyPassword } from "../../../db/queries/users.ts";
import { TUNNEL_STATE, tunnels } from "../../../db/schema.ts";
import { defaultClientConfig, emptyHttpRule } from "../../../lib/client-config/types.ts";
import { generateSelfSigned } from "../../../lib/tls/certificates.ts";
import { insertPort, insertTunnel } from "../../db-fixtures.ts";
import { Browser, signedIn, type TestWeb } from "./web-helpers.ts";

let w: TestWeb;
let b: Browser;
beforeEach(async () => {
  ({ w, b } = await signedIn());
});

const text = (html: string) => html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");

async function tunnelWith(fields: Partial<typeof tunnels.$inferInsert> & { state?: 1 | 2 | 3 | 4 }) {
  const id = await insertTunnel(w.db, { state: fields.state ?? TUNNEL_STATE.offline, hostname: fields.hostname ?? "" });
  await w.db.update(tunnels).set({ ...fields }).where(eq(tunnels.id, id));
  return id;
}

describe("overview", () => {
  test("counts, bandwidth, platforms and versions", async () => {
    const a = await tunnelWith({ state: 2, os: "linux", arch: "x64", version: "1.0.0" });
    await tunnelWith({ state: 3, os: "linux", arch: "x64", version: "1.0.0" });
    await tunnelWith({ state: 3, os: "darwin", arch: "arm64", version: "0.9.0" });
    await tunnelWith({ state: 1 });
    await tunnelWith({ state: 4, os: "windows" });
    await addBandwidth(w.db, [{ tunnelId: a, service: "", bytesIn: 1_500_000, bytesOut: 0 }]);
    await b.get("/");
    const t = text(b.lastHtml);
    expect(t).toContain("Active tunnels 4");
    expect(t).toContain("Online 1");
    expect(t).toContain("Offline 2");
    expect(t).toContain("Never connected 1");
    expect(t).toContain("Bandwidth today 1.50 MB");
    expect(t).toContain("linux x64 2");
    expect(t).toContain("darwin arm64 1");
    expect(t).toContain("1.0.0 2");
    expect(t).not.toContain("windows");
  });

  test("empty states", async () => {
    const pages: [path: string, empty: string][] = [
      ["/", "No client has connected yet."],
      ["/tunnels", "No tunnels match."],
      ["/tokens", "No registration tokens yet."],
      ["/api-keys", "No API keys yet."],
    ];
    for (const [path, empty] of pages) {
      await b.get(path);
      expect(b.lastHtml).toContain(empty);
    }
  });
});

describe("tokens", () => {
  test("create, edit description, deactivate and activate", async () => {
    await b.get("/tokens");
    const r = await b.post("/tokens", { description: "Warehouse", active: "on" });
    expect(r.status).toBe(200);
    const [tok] = await listRegistrationTokens(w.db);
    expect(tok).toMatchObject({ description: "Warehouse", active: true });
    expect(b.lastHtml).toContain(tok!.value);
    expect((await b.post(`/tokens/${tok!.id}/description`, { description: "Depot" })).headers.get("location")).toBe("/tokens?done=saved");
    await b.post(`/tokens/${tok!.id}/active`, { active: "off" });
    expect((await listRegistrationTokens(w.db))[0]).toMatchObject({ description: "Depot", active: false });
    await b.get("/tokens?done=deactivated");
    expect(b.lastHtml).toContain("Token deactivated.");
    await b.post(`/tokens/${tok!.id}/active`, { active: "on" });
    expect((await listRegistrationTokens(w.db))[0]!.active).toBe(true);
    await b.get("/tokens");
    expect((await b.post("/tokens", { description: "x".repeat(201) })).status).toBe(422);
    expect(b.lastHtml).toContain("Keep it under 200 characters.");
  });
});

describe("API keys", () => {
  test("the key is shown once; revoke", async () => {
    await b.get("/api-keys");
    await b.post("/api-keys", { description: "script" });
    const value = /<p class="secret">([0-9a-f]+)<\/p>/.exec(b.lastHtml)![1]!;
    expect(await verifyAdminApiKey(w.db, value)).toBeTruthy();
    await b.get("/api-keys");
    expect(b.lastHtml).not.toContain(value);
    expect(b.lastHtml).toContain(`${value.slice(0, 8)}…`);
    const [key] = await listAdminApiKeys(w.db);
    await b.post(`/api-keys/${key!.id}/revoke`, {});
    expect(await verifyAdminApiKey(w.db, value)).toBeUndefined();
    await b.get("/api-keys?done=revoked");
    expect(b.lastHtml).toContain("Revoked");
  });
});

describe("tunnels", () => {
  test("search by term, OS, version, arch; state filter; pagination; per-user browsing", async () => {
    const user = await findOrCreateTunnelUser(w.db, "fleet-7");
    for (let i = 0; i < 30; i++) await tunnelWith({ state: 3, hostname: `dev-${i}.spokes.test`, os: i % 2 ? "linux" : "windows", arch: "x64", version: i < 10 ? "1.0.0" : "1.1.0", created: new Date(Date.UTC(2024, 0, 1, 0, i)) });
    const mine = await tunnelWith({ state: 2, hostname: "special.spokes.test", os: "darwin", arch: "arm64", version: "2.0.0", userId: user.id });
    await b.get("/tunnels");
    expect(b.lastHtml).toContain("31 tunnels");
    expect(b.lastHtml).toContain("Page 1 of 2");
    await b.get("/tunnels?page=2");
    expect(b.lastHtml).toContain("Page 2 of 2");
    await b.get("/tunnels?term=special");
    expect(b.lastHtml).toContain("1 tunnel<");
    expect(b.lastHtml).toContain(mine);
    await b.get("/tunnels?os=linux&version=1.0.0");
    expect(b.lastHtml).toContain("5 tunnels");
    await b.get("/tunnels?arch=arm64");
    expect(b.lastHtml).toContain("1 tunnel<");
    await b.get("/tunnels?state=online");
    expect(b.lastHtml).toContain("1 tunnel<");
    await b.get("/tunnels");
    expect(b.lastHtml).toContain(`href="/tunnels?user=${user.id}"`);
    await b.get(`/tunnels?user=${user.id}`);
    expect(b.lastHtml).toContain("of fleet-7");
    expect(b.lastHtml).toContain("1 tunnel<");
  });

  test("details: cached rules when offline, ports, connections, bandwidth per rule", async () => {
    const id = await tunnelWith({ state: 3, hostname: "box.spokes.test", config: JSON.stringify({ https: [{ domain: "shop.example.com", destination: "127.0.0.1", port: 8080, secure: true }], ports: [{ port: 30003, destination: "127.0.0.1", dstPort: 22 }] }) });
    await insertPort(w.db, 30003, id);
    await addBandwidth(w.db, [{ tunnelId: id, service: "shop.example.com", bytesIn: 2000, bytesOut: 0 }]);
    await writeTrafficBatch(w.db, { bandwidth: [], connections: [{ tunnelId: id, service: "shop.example.com", protocol: "http", remoteAddress: "192.0.2.44", bytesIn: 100, bytesOut: 200, started: Date.now(), durationMs: 1500 }] });
    await b.get(`/tunnels/${id}`);
    const t = text(b.lastHtml);
    expect(t).toContain("HTTP rules cached");
    expect(t).toContain("shop.example.com 127.0.0.1:8080 https - 2.00 KB / 2.00 KB"); // "-": no monitoring state stored for it
    expect(t).toContain("30003 127.0.0.1:22");
    expect(t).toContain("192.0.2.44");
    expect(t).toContain("1.5 s");
    expect(b.lastHtml).not.toContain("Add an HTTP rule");
    expect((await b.get(`/tunnels/${"a".repeat(32)}`)).status).toBe(404);
    expect((await b.get("/tunnels/xyz")).status).toBe(404);
  });

  test("cluster mode: the list and the details show the node holding the tunnel", async () => {
    const held = await tunnelWith({ state: 2, hostname: "held.spokes.test", serverNode: "node-b" });
    await tunnelWith({ state: 3, hostname: "idle.spokes.test" });
    await createClusterStore(w.db).saveLocation({ tunnelId: held, nodeId: "node-b", epoch: "e", userId: null, hostname: "", https: [], ports: [] });
    await b.get("/tunnels");
    expect(text(b.lastHtml)).toContain("Online on node-b");
    expect(text(b.lastHtml).match(/ on node-/g)?.length).toBe(1);
    await b.get(`/tunnels/${held}`);
    expect(text(b.lastHtml)).toContain("Node node-b");
  });

  test("shutdown asks for confirmation, then shuts down and disconnects", async () => {
    const id = await tunnelWith({ state: 2 });
    await b.get(`/tunnels/${id}`);
    expect(b.lastHtml).toContain(`href="/tunnels/${id}/shutdown"`);
    await b.get(`/tunnels/${id}/shutdown`);
    expect(b.lastHtml).toContain("Shut down");
    const r = await b.post(`/tunnels/${id}/shutdown`, {});
    expect(r.headers.get("location")).toBe(`/tunnels/${id}`);
    expect(w.live.disconnected).toEqual([id]);
    const [row] = await w.db.select().from(tunnels).where(eq(tunnels.id, id));
    expect(row!.state).toBe(TUNNEL_STATE.shutdown);
  });

  test("remote management on an online tunnel: HTTP rules add, edit, remove; ports allocate, forward, clear, release", async () => {
    const id = await tunnelWith({ state: 2 });
    w.live.online.add(id);
    await b.get(`/tunnels/${id}`);
    expect(b.lastHtml).toContain("HTTP rules <span class=\"badge\">live");
    let r = await b.post(`/tunnels/${id}/http`, { domain: "App.Example.com", destination: "127.0.0.1", port: "8080", secure: "on", password: "s3cret" });
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=http-saved`);
    const rule = w.live.configs.get(id)!.https[0]!;
    expect(rule).toMatchObject({ domain: "app.example.com", port: 8080, secure: true });
    expect(rule.password).toMatch(/^\$argon2id\$/);
    // Errors next to the fields.
    await b.get(`/tunnels/${id}`);
    r = await b.post(`/tunnels/${id}/http`, { domain: "x.example.com", port: "99999" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("Enter a port between 1 and 65535.");
    r = await b.post(`/tunnels/${id}/http`, { domain: "app.example.com", port: "81" });
    expect(b.lastHtml).toContain("already has a rule: edit it instead.");
    // Edit keeps the password hash unless a new one is given.
    await b.get(`/tunnels/${id}?edit=app.example.com`);
    expect(b.lastHtml).toContain("Edit app.example.com");
    await b.post(`/tunnels/${id}/http`, { domain: "app.example.com", editing: "1", destination: "10.0.0.5", port: "9090" });
    expect(w.live.configs.get(id)!.https[0]).toMatchObject({ destination: "10.0.0.5", port: 9090, password: rule.password, secure: false });
    await b.get(`/tunnels/${id}`);
    await b.post(`/tunnels/${id}/http/remove`, { domain: "app.example.com" });
    expect(w.live.configs.get(id)!.https).toEqual([]);

    await b.get(`/tunnels/${id}`);
    expect((await b.post(`/tunnels/${id}/ports/allocate`, {})).headers.get("location")).toBe(`/tunnels/${id}?done=allocated`);
    const port = w.live.configs.get(id)!.ports[0]!.port;
    await b.get(`/tunnels/${id}?done=allocated`);
    expect(b.lastHtml).toContain("Port allocated.");
    await b.post(`/tunnels/${id}/ports/${port}/forward`, { destination: "127.0.0.1", dstPort: "22" });
    expect(w.live.configs.get(id)!.ports[0]).toMatchObject({ destination: "127.0.0.1", dstPort: 22 });
    await b.get(`/tunnels/${id}`);
    expect(text(b.lastHtml)).toContain(`${port} 127.0.0.1:22`);
    await b.post(`/tunnels/${id}/ports/${port}/clear`, {});
    expect(w.live.configs.get(id)!.ports[0]!.destination).toBe("");
    await b.get(`/tunnels/${id}`);
    await b.post(`/tunnels/${id}/ports/${port}/release`, {});
    expect(w.live.configs.get(id)!.ports).toEqual([]);

    // The client's refusal is shown.
    w.live.refuse = "config file is read-only";
    await b.get(`/tunnels/${id}`);
    r = await b.post(`/tunnels/${id}/http`, { domain: "b.example.com", port: "80" });
    expect(r.status).toBe(502);
    expect(b.lastHtml).toContain("the client did not apply the change: config file is read-only");
  });
});

describe("account", () => {
  test("full name; password change logs out everywhere", async () => {
    await b.get("/account");
    expect((await b.post("/account/name", { fullName: "Grace" })).headers.get("location")).toBe("/account?done=name");
    expect((await findUserByEmail(w.db, "admin@example.com"))!.fullName).toBe("Grace");
    await b.get("/account");
    let r = await b.post("/account/password", { current: "wrong", password: "new password", confirm: "new password" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("That is not your current password.");
    r = await b.post("/account/password", { current: "correct horse", password: "new password", confirm: "other" });
    expect(b.lastHtml).toContain("The passwords do not match.");
    const other = new Browser(w);
    await other.login();
    r = await b.post("/account/password", { current: "correct horse", password: "new password", confirm: "new password" });
    expect(r.headers.get("location")).toBe("/login?m=password-changed");
    expect((await other.get("/")).status).toBe(303);
    expect(await verifyPassword((await findUserByEmail(w.db, "admin@example.com"))!, "new password")).toBe(true);
    await b.get("/login?m=password-changed");
    expect(b.lastHtml).toContain("Log in again");
    await b.login("admin@example.com", "new password");
  });
});

describe("settings", () => {
  test("tunnel options apply live and persist; errors name the field", async () => {
    await b.get("/settings");
    let r = await b.post("/settings/tunnels", { autoHostnames: "on", monitorEnabled: "on", intervalSeconds: "30", maxPoolSize: "8", maxPorts: "3" });
    expect(r.headers.get("location")).toBe("/settings?done=tunnels");
    expect(w.config.tunOptions).toEqual({ autoHostnames: true, maxPoolSize: 8, maxPorts: 3 });
    expect(w.config.monitor).toEqual({ enabled: true, intervalSeconds: 30 });
    expect(w.settingsApplied).toEqual([["tunOptions", "monitor"]]);
    expect(await loadSettings(w.db)).toMatchObject({ tunOptions: { autoHostnames: true, maxPoolSize: 8, maxPorts: 3 }, monitor: { enabled: true, intervalSeconds: 30 } });
    await b.get("/settings");
    r = await b.post("/settings/tunnels", { intervalSeconds: "30", maxPoolSize: "0", maxPorts: "3" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("tunOptions.maxPoolSize (0) must be between 1 and 64");
    expect(w.config.tunOptions.maxPoolSize).toBe(8);
  });

  test("proxy settings: allow-list as comma separated values, validated", async () => {
    await b.get("/settings");
    let r = await b.post("/settings/proxy", { socksEnabled: "on", socksPort: "1080", socksTlsPort: "0", socksAuth: "token", allow: "10.0.0.0/8, internal.example.com,*.srv.local" });
    expect(r.headers.get("location")).toBe("/settings?done=proxy");
    expect(w.config.socks).toEqual({ enabled: true, port: 1080, tlsPort: 0, auth: "token", allow: ["10.0.0.0/8", "internal.example.com", "*.srv.local"] });
    await b.get("/settings");
    expect(b.lastHtml).toContain('value="10.0.0.0/8, internal.example.com, *.srv.local"');
    r = await b.post("/settings/proxy", { socksPort: "1080", socksTlsPort: "0", allow: "10.0.0.0/33" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("invalid allow-list entry");
    r = await b.post("/settings/proxy", { socksPort: "30005", socksTlsPort: "0", allow: "" });
    expect(b.lastHtml).toContain("must be outside portRange");
  });

  test("TLS: upload a certificate and key, checked against the domain; self-signed; domain errors", async () => {
    const good = await generateSelfSigned("spokes.test");
    const other = await generateSelfSigned("other.test");
    await b.get("/settings");
    let r = await b.post("/settings/tls", { domain: "spokes.test", tlsMode: "custom", certificate: other.certPem, privateKey: other.keyPem });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("does not cover spokes.test");
    r = await b.post("/settings/tls", { domain: "spokes.test", tlsMode: "custom", certificate: good.certPem, privateKey: other.keyPem });
    expect(b.lastHtml).toContain("does not match");
    r = await b.post("/settings/tls", { domain: "spokes.test", tlsMode: "custom", certificate: good.certPem, privateKey: "" });
    expect(b.lastHtml).toContain("Upload or paste the private key (PEM).");
    r = await b.post("/settings/tls", { domain: "spokes.test", tlsMode: "custom", certificate: good.certPem, privateKey: good.keyPem });
    expect(r.headers.get("location")).toBe("/settings?done=tls");
    expect(w.config.tls.certificate).toMatch(/dashboard-certificate\.pem$/);
    // Kept in the database as well: the other nodes of a cluster restore the files from it.
    expect((await loadSettings(w.db)).uploadedCertificate).toEqual({ certificate: w.config.tls.certificate, privateKey: w.config.tls.privateKey, certPem: expect.stringContaining("BEGIN CERTIFICATE"), keyPem: expect.stringContaining("PRIVATE KEY") });
    expect(w.settingsApplied.at(-1)).toEqual(["tls"]);
    await b.get("/settings");
    expect(b.lastHtml).toContain("Current certificate covers: spokes.test, *.spokes.test");
    // A wildcard certificate covers a subdomain as the new domain.
    r = await b.post("/settings/tls", { domain: "edge.spokes.test", tlsMode: "custom" });
    expect(r.headers.get("location")).toBe("/settings?done=tls");
    expect(w.config.domain).toBe("edge.spokes.test");
    r = await b.post("/settings/tls", { domain: "not a host", tlsMode: "selfSigned" });
    expect(b.lastHtml).toContain("is not a valid hostname.");
    r = await b.post("/settings/tls", { domain: "spokes.test", tlsMode: "selfSigned" });
    expect(w.config.tls).toEqual({ useLE: false, selfSigned: true, certificate: "", privateKey: "" });
    expect((await loadSettings(w.db)).domain).toBe("spokes.test");
  });
});

describe("mesh access", () => {
  test("each service's listener and list are shown; the forms set them on the client; bad entries are named", async () => {
    const id = await tunnelWith({ state: 2 });
    w.live.online.add(id);
    await insertPort(w.db, 30001, id);
    const config = defaultClientConfig();
    config.ports.push({ port: 30001, destination: "127.0.0.1", dstPort: 6379, firewall: [] });
    config.https.push({ ...emptyHttpRule("app.example.com"), port: 8080 });
    w.live.configs.set(id, config);
    await b.get(`/tunnels/${id}`);
    expect(text(b.lastHtml)).toContain("Mesh access");
    expect(text(b.lastHtml)).toContain("30001 TCP port yes any tunnel");

    const bTunnel = "b".repeat(32);
    let r = await b.post(`/tunnels/${id}/ports/30001/mesh`, { meshAllow: `tunnel:${bTunnel}, user:bob`, private: "on" });
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=mesh-saved`);
    expect(w.live.configs.get(id)!.ports[0]).toEqual({ port: 30001, destination: "127.0.0.1", dstPort: 6379, firewall: [], private: true, meshAllow: [`tunnel:${bTunnel}`, "user:bob"] });
    await b.get(`/tunnels/${id}`);
    expect(text(b.lastHtml)).toContain(`30001 TCP port private tunnel:${bTunnel}, user:bob`);
    // The forward form leaves the access settings alone.
    await b.post(`/tunnels/${id}/ports/30001/forward`, { destination: "127.0.0.1", dstPort: "6380" });
    expect(w.live.configs.get(id)!.ports[0]).toMatchObject({ dstPort: 6380, private: true, meshAllow: [`tunnel:${bTunnel}`, "user:bob"] });

    await b.get(`/tunnels/${id}`);
    r = await b.post(`/tunnels/${id}/http/mesh`, { domain: "app.example.com", meshAllow: "user:carol" });
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=mesh-saved`);
    expect(w.live.configs.get(id)!.https[0]).toMatchObject({ port: 8080, meshAllow: ["user:carol"] });

    await b.get(`/tunnels/${id}`);
    r = await b.post(`/tunnels/${id}/ports/30001/mesh`, { meshAllow: "user:bob, everyone" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("ports[0].meshAllow[1] (&quot;everyone&quot;) must be tunnel:&lt;tunnel id&gt; or user:&lt;user name or id&gt;");
    // An empty list is the default again: any tunnel.
    await b.get(`/tunnels/${id}`);
    await b.post(`/tunnels/${id}/ports/30001/mesh`, { meshAllow: "" });
    expect(w.live.configs.get(id)!.ports[0]!.meshAllow).toBeUndefined();
    expect(w.live.configs.get(id)!.ports[0]!.private).toBeUndefined();
    // Unknown tunnels and services.
    await b.get(`/tunnels/${id}`);
    expect((await b.post(`/tunnels/${"9".repeat(32)}/ports/30001/mesh`, { meshAllow: "" })).status).toBe(404);
    await b.get(`/tunnels/${id}`);
    expect((await b.post(`/tunnels/not-an-id/http/mesh`, { domain: "x", meshAllow: "" })).status).toBe(404);
    await b.get(`/tunnels/${id}`);
    r = await b.post(`/tunnels/${id}/http/mesh`, { domain: "nope.example.com", meshAllow: "user:bob" });
    expect(r.status).toBe(422);
    expect(b.lastHtml).toContain("no HTTP rule for nope.example.com");
  });
});
