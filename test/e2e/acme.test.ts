// Let's Encrypt for the server's own domain, against a local pebble (the ACME test CA):
// spokes starts on its self-signed certificate, orders one over HTTP-01 on its public
// HTTP port (pebble really connects: a DNS stub in this process answers 127.0.0.1 for
// every name), swaps it in, and after a restart serves the stored one without ordering.
// Skipped only when pebble is not installed (scripts/setup-test-deps.sh installs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { SPOKES_BIN, freePort, tempDir } from "../helpers.ts";
import { spawnLogged, type ProcessLog } from "./_tunnel-harness.ts";
import { PEBBLE, peerCertificate, startPebble, type Pebble } from "./_pebble.ts";

const DOMAIN = "acme.spokes.test";

describe.skipIf(!PEBBLE)("Let's Encrypt (ACME) against pebble", () => {
  let dir: string;
  let pebble: Pebble;
  let pebbleLog: ProcessLog;
  let pebbleCa: string;
  let configPath: string;
  let ports: { http: number; https: number };
  let spokes: { proc: Subprocess; log: ProcessLog } | undefined;

  const startSpokes = async () => {
    spokes = spawnLogged([SPOKES_BIN, "serve", "--config", configPath], { SPOKES_ACME_CA_FILE: pebbleCa });
    await spokes.log.waitFor(`serving ${DOMAIN}: http 127.0.0.1:${ports.http}, https 127.0.0.1:${ports.https} (tls: letsencrypt)`, { proc: spokes.proc });
    return spokes;
  };
  const stopSpokes = async () => {
    if (!spokes) return;
    process.kill(spokes.proc.pid, "SIGTERM");
    await spokes.proc.exited;
    spokes = undefined;
  };

  beforeAll(async () => {
    dir = tempDir("spokes-acme-");
    ports = { http: await freePort(), https: await freePort() };
    pebble = await startPebble(dir, ports.http);
    pebbleLog = pebble.log;
    pebbleCa = pebble.httpsCaPath;

    configPath = join(dir, "config.json");
    const begin = 20_000 + Math.floor(Math.random() * 100) * 100;
    writeFileSync(
      configPath,
      JSON.stringify({
        domain: DOMAIN,
        dataPath: dir,
        portRange: { begin, end: begin + 99 },
        tls: { useLE: true },
        acme: { directoryUrl: pebble.directoryUrl, email: "admin@example.com" },
        listen: { address: "127.0.0.1", http: ports.http, https: ports.https },
      }),
    );
  }, 60_000); // pebble and spokes start: slow on a loaded machine

  afterAll(async () => {
    await stopSpokes();
    await pebble?.stop();
  });

  let issued: PeerCertificate;

  test("starts on the self-signed certificate, obtains one over HTTP-01 and serves it", async () => {
    const { log, proc } = await startSpokes();
    expect(log.text).toContain(`serving a self-signed certificate for ${DOMAIN} until Let's Encrypt issues one`);
    await log.waitFor(`obtained a certificate for ${DOMAIN}`, { proc, timeoutMs: 60_000 });
    // Real HTTP-01 validation: pebble fetched the token through spokes' public HTTP port.
    expect(pebbleLog.text).toContain(`Attempting to validate w/ HTTP: http://${DOMAIN}:${ports.http}/.well-known/acme-challenge/`);
    expect(pebbleLog.text).toContain("set VALID by completed challenge");
    issued = await peerCertificate(ports.https, DOMAIN);
    expect(issued.issuer.CN).toStartWith("Pebble Intermediate CA");
    expect(issued.subjectaltname).toBe(`DNS:${DOMAIN}`);
    const stat = Bun.file(join(dir, "acme", `${DOMAIN}.key`));
    expect(await stat.exists()).toBe(true);
    expect((await stat.stat()).mode & 0o777).toBe(0o600);
    expect((await Bun.file(join(dir, "acme", "account.key")).stat()).mode & 0o777).toBe(0o600);
  }, 90_000);

  test("a restart serves the stored certificate without a new order", async () => {
    await stopSpokes();
    const { log, proc } = await startSpokes();
    await log.waitFor(`using the stored certificate for ${DOMAIN}`, { proc });
    const served = await peerCertificate(ports.https, DOMAIN);
    expect(served.fingerprint256).toBe(issued.fingerprint256);
    expect(log.text).not.toContain("ordering a certificate");
    expect(log.text).not.toContain("self-signed");
  });
});
