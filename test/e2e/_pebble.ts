// A local ACME CA for the Let's Encrypt tests: Debian's pebble, validating for real
// through a DNS stub in this process that answers 127.0.0.1 for every name (so pebble
// fetches HTTP-01 tokens from spokes' public HTTP port, whatever the name).
import type { Subprocess } from "bun";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { freePort, run } from "../helpers.ts";
import { spawnLogged, type ProcessLog } from "./_tunnel-harness.ts";

export const PEBBLE = Bun.which("pebble");

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

export interface Pebble {
  proc: Subprocess;
  log: ProcessLog;
  directoryUrl: string;
  /** pebble's own HTTPS certificate (spokes trusts it through SPOKES_ACME_CA_FILE). */
  httpsCaPath: string;
  /** Writes the root of the certificates pebble issues to `path` (it is new at each pebble start). */
  saveRoot(path: string): Promise<string>;
  /** Orders pebble holds, from its latest "There are now N orders" line (0 before the first). */
  orderCount(): number;
  stop(): Promise<void>;
}

/** Starts pebble validating HTTP-01 on `httpPort` of 127.0.0.1. */
export async function startPebble(dir: string, httpPort: number): Promise<Pebble> {
  const ports = { acme: await freePort(), mgmt: await freePort(), tlsAlpn: await freePort() };
  // Debian's pebble ships no certificate for its own HTTPS listener: a throwaway one.
  const httpsCaPath = join(dir, "pebble-cert.pem");
  const key = join(dir, "pebble-key.pem");
  const gen = run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", httpsCaPath, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
  if (gen.code !== 0) throw new Error(`openssl: ${gen.stderr}`);
  const config = join(dir, "pebble.json");
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${ports.acme}`,
        managementListenAddress: `127.0.0.1:${ports.mgmt}`,
        certificate: httpsCaPath,
        privateKey: key,
        httpPort,
        tlsPort: ports.tlsAlpn,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  const dns = await startDnsStub();
  let stopped = false;
  const { proc, log } = spawnLogged([PEBBLE!, "-config", config, "-dnsserver", `127.0.0.1:${dns.port}`], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" });
  await log.waitFor("ACME directory available", { proc });
  return {
    proc,
    log,
    directoryUrl: `https://127.0.0.1:${ports.acme}/dir`,
    httpsCaPath,
    async saveRoot(path) {
      const r = run("curl", ["-sS", "--fail", "--cacert", httpsCaPath, `https://127.0.0.1:${ports.mgmt}/roots/0`]);
      if (r.code !== 0) throw new Error(`pebble root: ${r.stderr}`);
      writeFileSync(path, r.stdout);
      return path;
    },
    orderCount() {
      const counts = [...log.text.matchAll(/There are now (\d+) orders in the db/g)];
      return counts.length ? Number(counts.at(-1)![1]) : 0;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      proc.kill("SIGKILL");
      await proc.exited;
      dns.socket.close();
    },
  };
}

/** The certificate a TLS server presents for `servername` (not verified). */
export function peerCertificate(port: number, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert);
    });
    s.on("error", reject);
  });
}
