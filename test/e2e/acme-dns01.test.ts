// Let's Encrypt with a DNS-01 hook (`acme.dnsHook`), against pebble: the server orders
// one certificate for its domain and `*.domain`, publishing the TXT records through the
// hook (a shell script here, writing the files the DNS stub of test/e2e/_pebble.ts
// answers from), and then serves tunnel names with that wildcard: no order per name.
// Skipped only when pebble is not installed (scripts/setup-test-deps.sh installs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { DOMAIN, configureClient, curl, httpUpstream, mustRun, stopAll, type TestServer } from "./_tunnel-harness.ts";
import { PEBBLE, peerCertificate, startAcmeServer, type Pebble } from "./_pebble.ts";

describe.skipIf(!PEBBLE)("Let's Encrypt wildcard through a DNS-01 hook (pebble)", () => {
  let pebble: Pebble;
  let server: TestServer;
  let txtDir: string;
  let root: string;

  beforeAll(async () => {
    const dir = tempDir("spokes-dns01-");
    txtDir = join(dir, "txt");
    mkdirSync(txtDir);
    const hook = join(dir, "dns-hook.sh");
    writeFileSync(
      hook,
      `#!/bin/sh
set -e
# The domain's and the wildcard's challenges run at once on the same record: one edit at a time.
exec 9> "${txtDir}/.lock"
flock 9
echo "$1 $2 $3" >> "${txtDir}/calls.log"
case "$1" in
  present) echo "$3" >> "${txtDir}/$2" ;;
  cleanup) grep -vxF "$3" "${txtDir}/$2" > "${txtDir}/$2.tmp" || true; mv "${txtDir}/$2.tmp" "${txtDir}/$2" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
`,
    );
    chmodSync(hook, 0o755);
    ({ pebble, server, root } = await startAcmeServer(dir, { pebble: { txtDir }, acme: { dnsHook: hook } }));
  }, 60_000); // pebble and spokes start: slow on a loaded machine

  afterAll(async () => {
    await stopAll();
    await pebble?.stop();
  });

  test("one certificate for the domain and its wildcard, validated through the hook's TXT records", async () => {
    await server.log.waitFor(`obtained a certificate for ${DOMAIN}`, { proc: server.proc, timeoutMs: 60_000 });
    expect(server.log.text).toContain(`ordering a certificate for ${DOMAIN} and *.${DOMAIN} from ${pebble.directoryUrl} (DNS-01)`);
    const cert = await peerCertificate(server.httpsPort, DOMAIN);
    expect(cert.subjectaltname?.split(", ").sort()).toEqual([`DNS:*.${DOMAIN}`, `DNS:${DOMAIN}`]);
    expect(cert.issuer.CN).toStartWith("Pebble Intermediate CA");
    // Both authorizations (the domain's and the wildcard's) used the same TXT name, each its own value, and cleaned up.
    const calls = readFileSync(join(txtDir, "calls.log"), "utf8").trim().split("\n").map((l) => l.split(" ").slice(0, 2).join(" "));
    expect(calls.sort()).toEqual([`cleanup _acme-challenge.${DOMAIN}`, `cleanup _acme-challenge.${DOMAIN}`, `present _acme-challenge.${DOMAIN}`, `present _acme-challenge.${DOMAIN}`]);
    expect(readFileSync(join(txtDir, `_acme-challenge.${DOMAIN}`), "utf8")).toBe("");
    expect(pebble.log.text).not.toContain("Attempting to validate w/ HTTP");
  }, 90_000);

  test("tunnel names are served with the wildcard, with no order of their own", async () => {
    const upstream = httpUpstream({ fetch: () => new Response("wildcard ok") });
    server.caPath = root;
    const client = await configureClient(server);
    for (const name of [`t1.${DOMAIN}`, `t2.${DOMAIN}`]) await mustRun(client, ["tunnel", "http", "add", "--domain", name, "--http", String(upstream.port)]);
    await client.start();
    for (const name of [`t1.${DOMAIN}`, `t2.${DOMAIN}`]) {
      const r = await curl(server, name, "/", { https: true, ca: root });
      expect(r.stderr).toBe("");
      expect(r.body).toBe("wildcard ok");
      expect((await peerCertificate(server.httpsPort, name)).subjectaltname).toContain(`DNS:*.${DOMAIN}`);
    }
    expect(pebble.orderCount()).toBe(1);
    expect(server.log.text).not.toContain("(on demand)");
  }, 60_000);
});
