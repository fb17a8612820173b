// The dashboard's rule editor through app.request(): every field of a client HTTP rule
// round-trips to the client and back into the form, fields the form does not change are
// kept, bad input is refused next to its field, certificates are checked on the server
// (form and Admin API), and port maps are added, edited and removed.
import { beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdminApiKey } from "../../../db/queries/admin-api-keys.ts";
import { TUNNEL_STATE } from "../../../db/schema.ts";
import { parseRemoteChange, type RemoteChange } from "../../../lib/client-config/remote-change.ts";
import { storeCertificateUploads } from "../../../lib/client-config/certificate-upload.ts";
import { defaultClientConfig, type HttpRule } from "../../../lib/client-config/types.ts";
import { verifyBasicAuth, verifyPassword } from "../../../lib/http/basic-auth.ts";
import { generateSelfSigned, type CertificatePair } from "../../../lib/tls/certificates.ts";
import { insertTunnel } from "../../db-fixtures.ts";
import { addAdmin, Browser, testWeb, type TestWeb } from "./web-helpers.ts";

// Each save hashes passwords (argon2id, slow on purpose): on a busy machine a test here
// takes longer than bun's default 5 s.
setDefaultTimeout(60_000);

let w: TestWeb;
let b: Browser;
let id: string;
let dataDir: string;
let cert: CertificatePair;
let other: CertificatePair;
const sent: RemoteChange[] = [];

beforeEach(async () => {
  w = await testWeb();
  await addAdmin(w.db);
  b = new Browser(w);
  await b.login();
  id = await insertTunnel(w.db, { state: TUNNEL_STATE.online });
  w.live.online.add(id);
  // The fake client stores uploads as the real one does (files in its data directory).
  dataDir = mkdtempSync(join(tmpdir(), "rule-editor-client-"));
  sent.length = 0;
  const apply = w.deps.live.applyChange!;
  w.deps.live.applyChange = async (tunnelId, change) => {
    sent.push(change as RemoteChange);
    const current = w.live.configs.get(tunnelId) ?? defaultClientConfig();
    try {
      return await apply(tunnelId, storeCertificateUploads(parseRemoteChange(change), dataDir, current));
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  };
  cert ??= await generateSelfSigned("app.example.com");
  other ??= await generateSelfSigned("other.example.com");
  await b.get(`/tunnels/${id}`);
});

const text = (html: string) => html.replace(/<[^>]+>/g, " ").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/\s+/g, " ");
const rule = (domain = "app.example.com"): HttpRule | undefined => w.live.configs.get(id)?.https.find((r) => r.domain === domain);

/** The form as a browser submits it: every input, passwords and file fields empty unless given. */
function fields(over: Record<string, string> = {}): Record<string, string> {
  return {
    domain: "app.example.com",
    destination: "127.0.0.1",
    port: "",
    tls: "",
    webRoot: "",
    rewriteHost: "",
    redirectURL: "",
    password: "",
    basicUser: "",
    basicPassword: "",
    certificate: "",
    privateKey: "",
    firewallRows: "3",
    "firewall.0.sequence": "",
    "firewall.0.action": "allow",
    "firewall.0.network": "",
    "firewall.1.sequence": "",
    "firewall.1.action": "allow",
    "firewall.1.network": "",
    "firewall.2.sequence": "",
    "firewall.2.action": "allow",
    "firewall.2.network": "",
    ...over,
  };
}

/** The inputs of the edit form as the page shows them (what a browser would send back). */
function formInputs(html: string): Record<string, string> {
  const start = html.indexOf('id="http-form"');
  const form = html.slice(start, html.indexOf("</form>", start));
  const out: Record<string, string> = {};
  for (const m of form.matchAll(/<input([^>]*)>/g)) {
    const attrs = m[1]!;
    const name = /name="([^"]+)"/.exec(attrs)?.[1];
    if (!name || name === "_csrf" || /type="file"/.test(attrs)) continue;
    if (/type="checkbox"/.test(attrs)) {
      if (/checked/.test(attrs)) out[name] = "on";
      continue;
    }
    out[name] = (/value="([^"]*)"/.exec(attrs)?.[1] ?? "").replace(/&amp;/g, "&").replace(/&quot;/g, '"');
  }
  for (const m of form.matchAll(/<select name="([^"]+)"[^>]*>([\s\S]*?)<\/select>/g)) {
    out[m[1]!] = /<option value="([^"]+)" selected/.exec(m[2]!)?.[1] ?? /<option value="([^"]+)"/.exec(m[2]!)![1]!;
  }
  for (const m of form.matchAll(/<textarea name="([^"]+)"/g)) out[m[1]!] = "";
  return out;
}

describe("HTTP rule editor", () => {
  test("every field round-trips: hashed secrets, firewall in sequence order, uploaded certificate stored 0600 on the client", async () => {
    const r = await b.post(
      `/tunnels/${id}/http`,
      fields({
        domain: "App.Example.com",
        destination: "10.0.0.5",
        port: "8080",
        rewriteHost: "internal.lan:8080",
        redirectURL: "https://example.org/moved",
        secure: "on",
        redirect: "on",
        insecureUpstream: "on",
        password: "site secret",
        basicUser: "alice",
        basicPassword: "wonderland",
        "firewall.0.sequence": "20",
        "firewall.0.action": "allow",
        "firewall.0.network": "10.0.0.0/8",
        "firewall.1.sequence": "10",
        "firewall.1.action": "drop",
        "firewall.1.network": "127.0.0.1",
        certificate: cert.certPem,
        privateKey: cert.keyPem,
      }),
    );
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=http-saved`);
    // On the wire: hashes, never the plain passwords; the PEM pair itself.
    const wire = JSON.stringify(sent[0]);
    expect(wire).not.toContain("site secret");
    expect(wire).not.toContain("wonderland");
    expect((sent[0] as { sites: HttpRule[] }).sites[0]!.ca).toBe(cert.certPem);
    // On the client.
    const saved = rule()!;
    expect(saved).toMatchObject({
      domain: "app.example.com",
      destination: "10.0.0.5",
      port: 8080,
      tls: 0,
      webRoot: "",
      rewriteHost: "internal.lan:8080",
      redirectURL: "https://example.org/moved",
      secure: true,
      redirect: true,
      insecureUpstream: true,
      useLetsEnc: false,
      firewall: [
        { sequence: 10, action: "drop", network: "127.0.0.1/32" },
        { sequence: 20, action: "allow", network: "10.0.0.0/8" },
      ],
    });
    expect(await verifyPassword("site secret", saved.password)).toBe(true);
    expect(saved.basicHttpAuth).toStartWith("alice:$argon2id$");
    expect(await verifyBasicAuth(saved.basicHttpAuth, `Basic ${btoa("alice:wonderland")}`)).toBe(true);
    expect(saved.ca).toStartWith(join(dataDir, "certs", "app.example.com-"));
    expect(saved.privateKey).toEndWith(".key");
    expect(statSync(saved.ca).mode & 0o777).toBe(0o600);
    expect(statSync(saved.privateKey).mode & 0o777).toBe(0o600);
    expect(await Bun.file(saved.privateKey).text()).toBe(cert.keyPem);

    // The list and the edit form show it all, never a hash or the key.
    await b.get(`/tunnels/${id}`);
    expect(text(b.lastHtml)).toContain("https, redirect to https, custom certificate, password, basic auth, firewall (2), host internal.lan:8080, unverified upstream TLS");
    await b.get(`/tunnels/${id}?edit=app.example.com`);
    expect(b.lastHtml).not.toContain("$argon2id");
    expect(b.lastHtml).not.toContain("PRIVATE KEY-----\n");
    const inputs = formInputs(b.lastHtml);
    expect(inputs).toMatchObject({
      domain: "app.example.com",
      editing: "1",
      destination: "10.0.0.5",
      port: "8080",
      rewriteHost: "internal.lan:8080",
      redirectURL: "https://example.org/moved",
      secure: "on",
      redirect: "on",
      insecureUpstream: "on",
      password: "",
      basicUser: "alice",
      basicPassword: "",
      "firewall.0.sequence": "10",
      "firewall.0.action": "drop",
      "firewall.0.network": "127.0.0.1/32",
      "firewall.1.sequence": "20",
      "firewall.1.network": "10.0.0.0/8",
    });
    expect(text(b.lastHtml)).toContain(`Custom certificate on the client: ${saved.ca}`);

    // Saving the form as shown changes nothing the form did not change.
    await b.post(`/tunnels/${id}/http`, { ...inputs, destination: "10.0.0.6" });
    expect(rule()).toEqual({ ...saved, destination: "10.0.0.6" });

    // Removing is explicit, one box per secret.
    await b.get(`/tunnels/${id}?edit=app.example.com`);
    await b.post(`/tunnels/${id}/http`, { ...formInputs(b.lastHtml), clearPassword: "on", clearBasicAuth: "on", clearCertificate: "on", basicUser: "" });
    expect(rule()).toMatchObject({ password: "", basicHttpAuth: "", ca: "", privateKey: "" });
    expect(rule()!.firewall).toHaveLength(2);
    // A post without the firewall table leaves the entries alone.
    await b.get(`/tunnels/${id}`);
    await b.post(`/tunnels/${id}/http`, { domain: "app.example.com", editing: "1", destination: "10.0.0.7", port: "8080" });
    expect(rule()).toMatchObject({ destination: "10.0.0.7", firewall: saved.firewall });

    // Let's Encrypt with a web root; a TLS destination port.
    await b.get(`/tunnels/${id}`);
    await b.post(`/tunnels/${id}/http`, fields({ domain: "files.example.com", webRoot: "/srv/www", useLetsEnc: "on" }));
    expect(rule("files.example.com")).toMatchObject({ webRoot: "/srv/www", useLetsEnc: true, secure: true, port: 0 });
    await b.get(`/tunnels/${id}`);
    await b.post(`/tunnels/${id}/http`, fields({ domain: "tls.example.com", tls: "8443" }));
    expect(rule("tls.example.com")).toMatchObject({ tls: 8443, port: 0 });
  });

  test("a bad firewall entry is refused with a message naming the entry", async () => {
    let r = await b.post(`/tunnels/${id}/http`, fields({ port: "80", "firewall.0.network": "10.0.0.0/8", "firewall.2.action": "drop", "firewall.2.network": "10.0.0.300" }));
    expect(r.status).toBe(422);
    expect(text(b.lastHtml)).toContain('Firewall entry 3: network ("10.0.0.300") must be an IP address or a CIDR network');
    // What was typed comes back, so it can be fixed.
    expect(formInputs(b.lastHtml)["firewall.2.network"]).toBe("10.0.0.300");
    r = await b.post(`/tunnels/${id}/http`, fields({ port: "80", "firewall.1.sequence": "first", "firewall.1.network": "10.0.0.1" }));
    expect(text(b.lastHtml)).toContain('Firewall entry 2: sequence ("first") must be a whole number from 1');
    r = await b.post(`/tunnels/${id}/http`, fields({ port: "80", "firewall.0.network": "10.1/16" }));
    expect(text(b.lastHtml)).toContain("Firewall entry 1: network");
    expect(sent).toEqual([]);
  });

  test("certificates: a key that does not pair, a certificate for another name, a half pair are refused; a file upload works", async () => {
    let r = await b.post(`/tunnels/${id}/http`, fields({ port: "80", certificate: cert.certPem, privateKey: other.keyPem }));
    expect(r.status).toBe(422);
    expect(text(b.lastHtml)).toContain("Private key does not match the certificate");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", certificate: other.certPem, privateKey: other.keyPem }));
    expect(text(b.lastHtml)).toContain("Certificate does not cover app.example.com (it covers: other.example.com, *.other.example.com)");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", certificate: cert.certPem }));
    expect(text(b.lastHtml)).toContain("Upload or paste the private key of the certificate.");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", certificate: "hello", privateKey: cert.keyPem }));
    expect(text(b.lastHtml)).toContain("Certificate is not a PEM certificate");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", certificate: cert.certPem, privateKey: cert.keyPem, useLetsEnc: "on" }));
    expect(text(b.lastHtml)).toContain("Choose Let's Encrypt or a custom certificate, not both.");
    await b.post(`/tunnels/${id}/http`, fields({ tls: "443", certificate: cert.certPem, privateKey: cert.keyPem }));
    expect(text(b.lastHtml)).toContain("A TLS port passes TLS through");
    expect(sent).toEqual([]);

    // multipart/form-data with files, as the browser sends an upload.
    const body = new FormData();
    for (const [k, v] of Object.entries(fields({ port: "80", certificate: "", privateKey: "" }))) body.set(k, v);
    body.set("_csrf", b.csrf());
    body.set("certificateFile", new File([cert.certPem], "app.crt"));
    body.set("privateKeyFile", new File([cert.keyPem], "app.key"));
    r = await b.request(`/tunnels/${id}/http`, { method: "POST", body, headers: { origin: b.origin } });
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=http-saved`);
    expect(await Bun.file(rule()!.ca).text()).toBe(cert.certPem);
    // A new upload is a new file; the rule points at it.
    const first = rule()!.ca;
    await b.get(`/tunnels/${id}?edit=app.example.com`);
    const fresh = await generateSelfSigned("app.example.com");
    await b.post(`/tunnels/${id}/http`, { ...formInputs(b.lastHtml), certificate: fresh.certPem, privateKey: fresh.keyPem });
    expect(rule()!.ca).not.toBe(first);
    expect(await Bun.file(rule()!.ca).text()).toBe(fresh.certPem);
  });

  test("passwords and basic auth: user without password, password without user, a new user name needs its password", async () => {
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", basicPassword: "pw" }));
    expect(text(b.lastHtml)).toContain("Give the user name that goes with the password.");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", basicUser: "bob" }));
    expect(text(b.lastHtml)).toContain("Type a password for the basic auth user.");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", basicUser: "a:b", basicPassword: "pw" }));
    expect(text(b.lastHtml)).toContain("must not contain ':'");
    await b.post(`/tunnels/${id}/http`, fields({ port: "80", basicUser: "bob", basicPassword: "pw" }));
    await b.get(`/tunnels/${id}?edit=app.example.com`);
    await b.post(`/tunnels/${id}/http`, { ...formInputs(b.lastHtml), basicUser: "carol" });
    expect(text(b.lastHtml)).toContain("Type the password for the new user name.");
    await b.post(`/tunnels/${id}/http`, { ...formInputs(b.lastHtml), basicUser: "" });
    expect(text(b.lastHtml)).toContain('To turn basic auth off, tick "Remove basic auth".');
    await b.post(`/tunnels/${id}/http`, { ...formInputs(b.lastHtml), basicUser: "carol", basicPassword: "pw2" });
    expect(rule()!.basicHttpAuth).toStartWith("carol:$argon2id$");
    await b.get(`/tunnels/${id}?edit=app.example.com`);
    await b.post(`/tunnels/${id}/http`, { ...formInputs(b.lastHtml), password: "x", clearPassword: "on" });
    expect(text(b.lastHtml)).toContain("Either type a new password or remove it, not both.");
    // Values the client validator refuses are shown next to their field.
    await b.post(`/tunnels/${id}/http`, fields({ domain: "v.example.com", port: "80", destination: "not a host" }));
    expect(text(b.lastHtml)).toContain('Destination ("not a host") must be a hostname or an IP address');
    await b.post(`/tunnels/${id}/http`, fields({ domain: "v.example.com", port: "80", redirectURL: "ftp://x" }));
    expect(text(b.lastHtml)).toContain('Redirect URL ("ftp://x") must be an http:// or https:// URL');
    await b.post(`/tunnels/${id}/http`, fields({ domain: "v.example.com", port: "80", webRoot: "/srv" }));
    expect(text(b.lastHtml)).toContain("A web root serves files itself");
  });
});

describe("port maps", () => {
  test("add, refuse a duplicate or a bad port, edit, remove", async () => {
    let r = await b.post(`/tunnels/${id}/portmaps`, { listenPort: "6379", transport: "tcp", destination: "redis.internal", dstPort: "22123", label: "cache" });
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=portmap-saved`);
    expect(w.live.configs.get(id)!.portmaps).toEqual([{ listenPort: 6379, transport: "tcp", destination: "redis.internal", dstPort: 22123, label: "cache", http: false }]);
    await b.get(`/tunnels/${id}`);
    expect(text(b.lastHtml)).toContain("127.0.0.1:6379 tcp redis.internal:22123 cache");
    r = await b.post(`/tunnels/${id}/portmaps`, { listenPort: "6379", destination: "x", dstPort: "1" });
    expect(r.status).toBe(422);
    expect(text(b.lastHtml)).toContain("Local port 6379 is already mapped: edit that map instead.");
    await b.post(`/tunnels/${id}/portmaps`, { listenPort: "70000", destination: "x", dstPort: "1" });
    expect(text(b.lastHtml)).toContain("Local port: enter a port between 1 and 65535.");
    await b.post(`/tunnels/${id}/portmaps`, { listenPort: "7000", destination: "bad host!", dstPort: "1" });
    expect(text(b.lastHtml)).toContain('Destination host ("bad host!") must be a hostname or an IP address');
    await b.post(`/tunnels/${id}/portmaps`, { listenPort: "6379", editing: "1", destination: "redis2.internal", dstPort: "6380", label: "" });
    expect(w.live.configs.get(id)!.portmaps).toEqual([{ listenPort: 6379, transport: "tcp", destination: "redis2.internal", dstPort: 6380, label: "", http: false }]);
    await b.get(`/tunnels/${id}`);
    r = await b.post(`/tunnels/${id}/portmaps/6379/remove`, {});
    expect(r.headers.get("location")).toBe(`/tunnels/${id}?done=portmap-removed`);
    expect(w.live.configs.get(id)!.portmaps).toEqual([]);
    expect(sent.map((c) => c.kind)).toEqual(["portmap/update", "portmap/update", "portmap/remove"]);
  });

  test("forms without the CSRF token are refused", async () => {
    const r = await b.post(`/tunnels/${id}/portmaps`, { listenPort: "6379", destination: "x", dstPort: "1" }, { csrf: false });
    expect(r.status).toBe(403);
    expect((await b.post(`/tunnels/${id}/http`, fields({ port: "80" }), { csrf: "wrong" })).status).toBe(403);
    expect(sent).toEqual([]);
  });
});

describe("Admin API certificate upload", () => {
  test("tunnel/traffic/http/update takes base64 PEM (as the original Go client sends) or raw PEM in ca/privateKey", async () => {
    const { value } = await createAdminApiKey(w.db, { description: "t" });
    const headers = { accept: "application/json", "content-type": "application/json", authorization: `Bearer ${value}` };
    const post = async (sites: unknown[]) => {
      const res = await b.request(`/api/admin/v1.0/tunnel/traffic/http/update/${id}`, { method: "POST", headers, body: JSON.stringify({ sites }) });
      return { status: res.status, json: (await res.json()) as { status: boolean; error?: string } };
    };
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    let r = await post([{ domain: "app.example.com", port: 8080, ca: b64(cert.certPem), privateKey: b64(cert.keyPem) }]);
    expect(r.json).toEqual({ status: true, message: "Change applied" } as never);
    expect(await Bun.file(rule()!.ca).text()).toBe(cert.certPem);
    r = await post([{ domain: "app.example.com", port: 8080, ca: cert.certPem, privateKey: other.keyPem }]);
    expect(r).toEqual({ status: 400, json: { status: false, error: "sites[0].privateKey (private key) does not match the sites[0].ca (certificate)" } });
    r = await post([{ domain: "app.example.com", port: 8080, ca: cert.certPem, privateKey: "/etc/key.pem" }]);
    expect(r.json.error).toBe("sites[0].ca holds PEM content but sites[0].privateKey does not: send both as PEM (or both as file paths on the client)");
    // Paths name files on the client, which checks them before applying.
    r = await post([{ domain: "app.example.com", port: 8080, ca: "/nonexistent/app.crt", privateKey: "/nonexistent/app.key" }]);
    expect(r).toMatchObject({ status: 502, json: { error: "the client did not apply the change: cannot read certificate /nonexistent/app.crt: no such file" } });
  });
});
