// On-demand certificates in Let's Encrypt mode, against a local pebble with real HTTP-01
// validation (test/e2e/_pebble.ts): a fresh server gets its own domain's certificate,
// then each tunnel name the server terminates gets one on its first ClientHello, ordered
// through the server's HTTP port and served from then on; names nobody configured order
// nothing; a restart reuses the stored certificates; a CA that is down gives a logged
// error, the default certificate and a server that keeps running.
// Skipped only when pebble is not installed (scripts/setup-test-deps.sh installs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { freePort, tempDir } from "../helpers.ts";
import { DOMAIN, configureClient, curl, httpUpstream, mustRun, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";
import { PEBBLE, peerCertificate, startAcmeServer, type Pebble } from "./_pebble.ts";

const CLIENT_ENV = { PKTRIOT_BACKOFF_MAX_MS: "500" };
const T1 = `t1.${DOMAIN}`;
const T2 = `t2.${DOMAIN}`;
const T3 = `t3.${DOMAIN}`;

/** The server's ACME order counters from /metrics. */
async function acmeOrders(metricsPort: number): Promise<{ success: number; failure: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (outcome: string) => Number(text.match(new RegExp(`^spokes_acme_orders_total\\{outcome="${outcome}"\\} (\\d+)`, "m"))?.[1] ?? NaN);
  return { success: value("success"), failure: value("failure") };
}

/** A handshake for `servername`: resolves with how it ended (the server closes unknown names without a certificate). */
function handshake(port: number, servername: string): Promise<"secure" | "closed"> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      s.destroy();
      resolve("secure");
    });
    s.on("error", () => resolve("closed"));
    s.on("close", () => resolve("closed"));
  });
}

describe.skipIf(!PEBBLE)("on-demand certificates for tunnel names (Let's Encrypt mode, pebble)", () => {
  let pebble: Pebble;
  let server: TestServer;
  let client: TestClient;
  let root: string;
  let metricsPort: number;
  const fingerprints = new Map<string, string>();

  beforeAll(async () => {
    const dir = tempDir("spokes-on-demand-");
    metricsPort = await freePort();
    ({ pebble, server, root } = await startAcmeServer(dir, { acme: { email: "admin@example.com" }, config: { listen: { metrics: `127.0.0.1:${metricsPort}` } } }));
  }, 60_000); // pebble and spokes start: slow on a loaded machine

  afterAll(async () => {
    await stopAll();
    await pebble?.stop();
  });

  test("a fresh server serves its dashboard over HTTPS with a certificate from the CA", async () => {
    await server.log.waitFor(`obtained a certificate for ${DOMAIN}`, { proc: server.proc, timeoutMs: 60_000 });
    const r = await curl(server, DOMAIN, "/", { https: true, ca: root });
    expect(r.stderr).toBe("");
    expect(r.status).toBeGreaterThanOrEqual(200);
    expect(r.status).toBeLessThan(400); // the dashboard (or its login redirect)
  }, 90_000);

  test("two tunnel names get their own certificates on their first handshake, validated over HTTP-01", async () => {
    const upstream = httpUpstream({ fetch: (req) => new Response(`hello from ${req.headers.get("host")}`) });
    server.caPath = root; // the client checks the server's new certificate against the CA's root
    client = await configureClient(server);
    for (const name of [T1, T2, T3]) await mustRun(client, ["tunnel", "http", "add", "--domain", name, "--http", String(upstream.port)]);
    await client.start(CLIENT_ENV);
    for (const name of [T1, T2]) {
      const r = await curl(server, name, "/", { https: true, ca: root, timeoutMs: 60_000 });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(200);
      expect(r.body).toBe(`hello from ${name}:${server.httpsPort}`);
      const cert = await peerCertificate(server.httpsPort, name);
      expect(cert.subjectaltname).toBe(`DNS:${name}`);
      expect(cert.issuer.CN).toStartWith("Pebble Intermediate CA");
      fingerprints.set(name, cert.fingerprint256);
      // Real validation through the server's public HTTP port, for the tunnel's name.
      expect(pebble.log.text).toContain(`Attempting to validate w/ HTTP: http://${name}:${server.httpPort}/.well-known/acme-challenge/`);
      expect(server.log.text).toContain(`ordering a certificate for ${name} (on demand)`);
      const key = join(server.dir, "acme", `${name}.key`);
      expect(statSync(key).mode & 0o777).toBe(0o600);
    }
    expect(await acmeOrders(metricsPort)).toEqual({ success: 3, failure: 0 }); // the domain, t1, t2
    // One order per name: more handshakes reuse the certificate.
    expect((await curl(server, T1, "/", { https: true, ca: root })).status).toBe(200);
    expect(server.log.text.split(`ordering a certificate for ${T1} (on demand)`).length - 1).toBe(1);
  }, 120_000);

  test("a ClientHello for a name nobody configured orders nothing", async () => {
    const before = pebble.orderCount();
    expect(before).toBe(3);
    for (const name of [`unknown.${DOMAIN}`, `www.${DOMAIN}`, "t1.elsewhere.example"]) expect(await handshake(server.httpsPort, name)).toBe("closed");
    // A configured name is still served on the same server, so the refusals above were decisions, not a dead port.
    expect(await handshake(server.httpsPort, T1)).toBe("secure");
    expect(pebble.orderCount()).toBe(before);
    expect(await acmeOrders(metricsPort)).toEqual({ success: 3, failure: 0 });
    expect(server.log.text).not.toContain(`ordering a certificate for unknown.${DOMAIN}`);
    expect(existsSync(join(server.dir, "acme", `unknown.${DOMAIN}.crt`))).toBe(false);
  });

  test("after a restart the stored certificates are served without a new order", async () => {
    const before = pebble.orderCount();
    await server.kill9();
    await server.restart();
    const from = client.log.text.length;
    await client.log.waitFor(`tunnel ${client.tunnelId} online`, { from, proc: client.proc, timeoutMs: 20_000 });
    for (const name of [T1, T2]) {
      const r = await curl(server, name, "/", { https: true, ca: root });
      expect(r.status).toBe(200);
      expect((await peerCertificate(server.httpsPort, name)).fingerprint256).toBe(fingerprints.get(name)!);
      expect(server.log.text).toContain(`using the stored certificate for ${name}`);
    }
    expect(server.log.text).not.toContain("ordering a certificate");
    expect(pebble.orderCount()).toBe(before);
    expect(await acmeOrders(metricsPort)).toEqual({ success: 0, failure: 0 });
  }, 60_000);

  test("with the CA down, a new name gets a logged error and the default certificate; the server keeps serving", async () => {
    await pebble.stop();
    const from = server.log.text.length;
    const r = await curl(server, T3, "/", { https: true, ca: root, timeoutMs: 30_000 });
    // The handshake completed with the server's own certificate, which does not name t3.
    expect(r.exit).toBe(60);
    expect(r.stderr).toContain("no alternative certificate subject name matches");
    expect((await peerCertificate(server.httpsPort, T3)).subjectaltname).toBe(`DNS:${DOMAIN}`);
    const line = await server.log.waitFor(new RegExp(`certificate order for ${T3.replace(/\./g, "\\.")} failed: [^\\n]*`), { from });
    expect(line).toContain("ECONNREFUSED");
    // The failed name backs off: another handshake does not order again.
    await curl(server, T3, "/", { https: true, ca: root });
    expect(server.log.text.split(`ordering a certificate for ${T3} (on demand)`).length - 1).toBe(1);
    expect(server.log.text).toContain(`not ordering a certificate for ${T3} now: its last order failed`);
    expect(await acmeOrders(metricsPort)).toEqual({ success: 0, failure: 1 });
    // Still up: the dashboard and the names with certificates are served.
    expect(server.proc.exitCode).toBeNull();
    expect((await curl(server, DOMAIN, "/healthz", { https: true, ca: root })).status).toBe(200);
    expect((await curl(server, T1, "/", { https: true, ca: root })).body).toBe(`hello from ${T1}:${server.httpsPort}`);
  }, 60_000);
});
