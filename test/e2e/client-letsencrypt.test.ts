// Let's Encrypt on the client (`tunnel http add --letsencrypt`) against Debian's pebble
// with real HTTP-01 validation: pebble resolves the rule's name through a DNS stub to
// 127.0.0.1 and fetches the token from spokes' public HTTP port; spokes forwards it
// through the tunnel past the rule's redirect and basic auth; pktriot answers it. The
// client starts while the CA is down (a clear logged error, no crash, HTTPS closed), the
// CA comes up and the retry gets the certificate, which pktriot then serves itself (the
// server passes the TLS through): curl verifies it against pebble's root. A short-lived
// certificate is renewed at start and by the periodic check. A name whose DNS points
// elsewhere fails with the CA's own validation message.
// Skipped only when pebble is not installed (scripts/setup-test-deps.sh installs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { configureClient, curl, httpUpstream, mustRun, startServer, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";
import { PEBBLE, peerCertificate, preparePebble, type Pebble, type PreparedPebble } from "./_pebble.ts";

const NAME = "le.example.test";
/** The DNS stub sends pebble to 127.0.0.2 for this one, where nothing listens. */
const ELSEWHERE = "elsewhere.example.test";
const DAY_S = 86_400;

describe.skipIf(!PEBBLE)("Let's Encrypt on the client, against pebble", () => {
  let dir: string;
  let server: TestServer;
  let client: TestClient;
  let prepared: PreparedPebble;
  let pebble: Pebble;
  let rootPath: string;
  const acmeEnv = (extra: Record<string, string> = {}) => ({ PKTRIOT_ACME_CA_FILE: prepared.httpsCaPath, PKTRIOT_ACME_RETRY_MIN_MS: "500", ...extra });
  const acmeDir = () => join(client.dir, "acme");

  beforeAll(async () => {
    dir = tempDir("pktriot-le-");
    server = await startServer();
    // Ten days of validity: under the 30-day threshold, so every check renews it.
    prepared = await preparePebble(dir, server.httpPort, { certificateValiditySeconds: 10 * DAY_S, addressFor: (name) => (name === ELSEWHERE ? "127.0.0.2" : "127.0.0.1") });
    const app = httpUpstream({ fetch: (req) => Response.json({ path: new URL(req.url).pathname, proto: req.headers.get("x-forwarded-proto") }) });
    client = await configureClient(server);
    // The CA comes from the client's own file (acme.directoryUrl), as a user would set it.
    const config = JSON.parse(readFileSync(client.configPath, "utf8"));
    config.acme = { directoryUrl: prepared.directoryUrl, email: "ops@example.test" };
    writeFileSync(client.configPath, JSON.stringify(config));
    // Redirect and basic auth on the rule: the CA's request must get past both.
    await mustRun(client, ["tunnel", "http", "add", "--domain", NAME, "--http", String(app.port), "--letsencrypt", "--redirect", "--basic-user", "u", "--basic-password", "pw"]);
  });

  afterAll(async () => {
    await pebble?.stop();
    await stopAll();
  });

  test("CA down: one clear logged error, no crash, HTTPS closed; the retry after the CA is up gets the certificate", async () => {
    await client.start(acmeEnv());
    const failed = await client.log.waitFor(new RegExp(`certificate order for ${NAME.replace(/\./g, "\\.")} failed \\(retrying in \\d+ s\\): cannot reach the ACME server at ${prepared.directoryUrl.replace(/[./]/g, "\\$&")}: ECONNREFUSED`), { proc: client.proc });
    expect(failed).toBeTruthy();
    expect(client.log.text).not.toContain("    at ");
    // No certificate yet: the visitor's TLS is closed, plain HTTP still works.
    const early = await curl(server, NAME, "/", { https: true, ca: server.caPath });
    expect(early.exit).not.toBe(0);
    const plain = await curl(server, NAME, "/x", { args: ["-u", "u:pw"] });
    expect(plain.status).toBe(301);

    pebble = await prepared.start();
    rootPath = await pebble.saveRoot(join(dir, "pebble-root.pem"));
    await client.log.waitFor(`obtained a certificate for ${NAME}`, { proc: client.proc, timeoutMs: 60_000 });
    expect(client.proc!.exitCode).toBeNull();
    // Real HTTP-01: pebble fetched the token through spokes' public HTTP port and the tunnel.
    expect(pebble.log.text).toContain(`Attempting to validate w/ HTTP: http://${NAME}:${server.httpPort}/.well-known/acme-challenge/`);
    expect(pebble.log.text).toContain("set VALID by completed challenge");
  }, 90_000);

  test("served over HTTPS by the client with a certificate that chains to pebble's root", async () => {
    const r = await curl(server, NAME, "/secure", { https: true, ca: rootPath, args: ["-u", "u:pw"] });
    expect(r.exit).toBe(0);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ path: "/secure", proto: "https" });
    const cert = await peerCertificate(server.httpsPort, NAME);
    expect(cert.issuer.CN).toStartWith("Pebble Intermediate CA");
    expect(cert.subjectaltname).toBe(`DNS:${NAME}`);
    // The server's certificate does not verify it: the TLS ended at the client.
    expect((await curl(server, NAME, "/secure", { https: true, args: ["-u", "u:pw"] })).exit).toBe(60);
    // Basic auth still holds on TLS the server could not read.
    expect((await curl(server, NAME, "/secure", { https: true, ca: rootPath })).status).toBe(401);
    // Plain HTTP other than the challenge is still redirected.
    expect((await curl(server, NAME, "/plain")).status).toBe(301);
    for (const f of ["account.key", `${NAME}.crt`, `${NAME}.key`]) expect(statSync(join(acmeDir(), f)).mode & 0o777).toBe(0o600);
  });

  test("a short-lived certificate is renewed: at start while the stored one is served, then by the periodic check", async () => {
    const first = (await peerCertificate(server.httpsPort, NAME)).fingerprint256;
    await client.kill9();
    await client.start(acmeEnv({ PKTRIOT_ACME_CHECK_MS: "3000" }));
    await client.log.waitFor(new RegExp(`the certificate for ${NAME.replace(/\./g, "\\.")} expires \\S+: renewing`), { proc: client.proc });
    await client.log.waitFor(`obtained a certificate for ${NAME}`, { proc: client.proc, timeoutMs: 60_000 });
    const second = (await peerCertificate(server.httpsPort, NAME)).fingerprint256;
    expect(second).not.toBe(first);
    const from = client.log.text.length;
    await client.log.waitFor(`obtained a certificate for ${NAME}`, { proc: client.proc, from, timeoutMs: 60_000 });
    const third = (await peerCertificate(server.httpsPort, NAME)).fingerprint256;
    expect(third).not.toBe(second);
    const r = await curl(server, NAME, "/renewed", { https: true, ca: rootPath, args: ["-u", "u:pw"] });
    expect(r.status).toBe(200);
  }, 120_000);

  test("a name whose DNS points elsewhere fails with the CA's validation message", async () => {
    await client.kill9();
    await mustRun(client, ["tunnel", "http", "add", "--domain", ELSEWHERE, "--http", "9", "--letsencrypt"]);
    await client.start(acmeEnv());
    const line = await client.log.waitFor(new RegExp(`certificate order for ${ELSEWHERE.replace(/\./g, "\\.")} failed \\(retrying in [^)]+\\): the CA could not validate ${ELSEWHERE.replace(/\./g, "\\.")} over HTTP-01 \\(does its DNS point at the server[^)]*\\): [^\\n]*127\\.0\\.0\\.2[^\\n]*`), { proc: client.proc, timeoutMs: 60_000 });
    expect(line).toContain("connection refused");
    expect(client.proc!.exitCode).toBeNull();
  }, 90_000);
});
