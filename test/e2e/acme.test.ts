// Let's Encrypt for the server's own domain, against a local pebble (the ACME test CA):
// spokes starts on its self-signed certificate, orders one over HTTP-01 on its public
// HTTP port (pebble really connects: a DNS stub in this process answers 127.0.0.1 for
// every name), swaps it in, and after a restart serves the stored one without ordering.
// Skipped only when pebble is not installed (scripts/setup-test-deps.sh installs it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { SPOKES_BIN, freePort, run, tempDir } from "../helpers.ts";
import { spawnLogged, type ProcessLog } from "./_tunnel-harness.ts";

const PEBBLE = Bun.which("pebble");
const DOMAIN = "acme.spokes.test";

/** Answers every A query with 127.0.0.1 and every other query with no records (RFC 1035 4.1). */
function startDnsStub(): Promise<{ port: number; socket: UdpSocket }> {
  const socket = createSocket("udp4");
  socket.on("message", (q, peer) => {
    if (q.length < 12) return;
    let i = 12;
    while (i < q.length && q[i] !== 0) i += q[i]! + 1;
    const end = i + 5; // the root label, QTYPE, QCLASS
    if (end > q.length) return;
    const isA = q.readUInt16BE(i + 1) === 1;
    const head = Buffer.from(q.subarray(0, end));
    head.writeUInt16BE(0x8580 | (q[2]! & 0x01) << 8, 2); // response, authoritative, RD copied, RA
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(isA ? 1 : 0, 6);
    head.writeUInt32BE(0, 8);
    const answer = isA ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]) : Buffer.alloc(0);
    socket.send(Buffer.concat([head, answer]), peer.port, peer.address);
  });
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve({ port: socket.address().port, socket })));
}

function peerCertificate(port: number, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert);
    });
    s.on("error", reject);
  });
}

describe.skipIf(!PEBBLE)("Let's Encrypt (ACME) against pebble", () => {
  let dir: string;
  let dns: { port: number; socket: UdpSocket };
  let pebble: Subprocess;
  let pebbleLog: ProcessLog;
  let pebbleCa: string;
  let configPath: string;
  let ports: { acme: number; mgmt: number; http: number; https: number; tlsAlpn: number };
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
    ports = { acme: await freePort(), mgmt: await freePort(), http: await freePort(), https: await freePort(), tlsAlpn: await freePort() };
    // Debian's pebble ships no certificate for its own HTTPS listener: a throwaway one,
    // which spokes trusts through SPOKES_ACME_CA_FILE.
    pebbleCa = join(dir, "pebble-cert.pem");
    const key = join(dir, "pebble-key.pem");
    const gen = run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pebbleCa, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
    if (gen.code !== 0) throw new Error(`openssl: ${gen.stderr}`);
    const pebbleConfig = join(dir, "pebble.json");
    writeFileSync(
      pebbleConfig,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${ports.acme}`,
          managementListenAddress: `127.0.0.1:${ports.mgmt}`,
          certificate: pebbleCa,
          privateKey: key,
          httpPort: ports.http,
          tlsPort: ports.tlsAlpn,
          ocspResponderURL: "",
          externalAccountBindingRequired: false,
        },
      }),
    );
    dns = await startDnsStub();
    const started = spawnLogged([PEBBLE!, "-config", pebbleConfig, "-dnsserver", `127.0.0.1:${dns.port}`], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" });
    pebble = started.proc;
    pebbleLog = started.log;
    await started.log.waitFor("ACME directory available", { proc: pebble });

    configPath = join(dir, "config.json");
    const begin = 20_000 + Math.floor(Math.random() * 100) * 100;
    writeFileSync(
      configPath,
      JSON.stringify({
        domain: DOMAIN,
        dataPath: dir,
        portRange: { begin, end: begin + 99 },
        tls: { useLE: true },
        acme: { directoryUrl: `https://127.0.0.1:${ports.acme}/dir`, email: "admin@example.com" },
        listen: { address: "127.0.0.1", http: ports.http, https: ports.https },
      }),
    );
  });

  afterAll(async () => {
    await stopSpokes();
    if (pebble) {
      process.kill(pebble.pid, "SIGKILL");
      await pebble.exited;
    }
    dns?.socket.close();
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
