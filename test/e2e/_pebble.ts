// A local ACME CA for the Let's Encrypt tests (server and client): Debian's pebble,
// validating for real through a DNS stub in this process that answers 127.0.0.1 for every
// name unless the test says otherwise (so pebble fetches HTTP-01 tokens from spokes'
// public HTTP port, whatever the name).
import type { Subprocess } from "bun";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { freePort, run } from "../helpers.ts";
import { spawnLogged, startServer, type ProcessLog, type TestServer } from "./_tunnel-harness.ts";

export const PEBBLE = Bun.which("pebble");

/**
 * Answers A queries with `addressFor(name)`, TXT queries from `txtDir/<name>` (one value
 * a line, as a DNS-01 hook writes them), and every other query with no records (RFC 1035 4.1).
 */
function startDnsStub(addressFor: (name: string) => string, txtDir?: string): Promise<{ port: number; socket: UdpSocket }> {
  const socket = createSocket("udp4");
  socket.on("message", (q, peer) => {
    if (q.length < 12) return;
    const labels: string[] = [];
    let i = 12;
    while (i < q.length && q[i] !== 0) {
      labels.push(q.subarray(i + 1, i + 1 + q[i]!).toString("latin1"));
      i += q[i]! + 1;
    }
    const end = i + 5; // the root label, QTYPE, QCLASS
    if (end > q.length) return;
    const type = q.readUInt16BE(i + 1);
    const name = labels.join(".").toLowerCase();
    const answers: Buffer[] = [];
    if (type === 1) answers.push(Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...addressFor(name).split(".").map(Number)]));
    const txtFile = txtDir && join(txtDir, name);
    if (type === 16 && txtFile && existsSync(txtFile)) {
      for (const value of readFileSync(txtFile, "utf8").split("\n").filter(Boolean)) {
        const rr = Buffer.from([0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, value.length]); // name, TXT, IN, TTL 0, RDLENGTH, string length
        rr.writeUInt16BE(value.length + 1, 10); // RDLENGTH: one <character-string>
        answers.push(Buffer.concat([rr, Buffer.from(value, "latin1")]));
      }
    }
    const head = Buffer.from(q.subarray(0, end));
    head.writeUInt16BE(0x8580 | (q[2]! & 0x01) << 8, 2); // response, authoritative, RD copied, RA
    head.writeUInt16BE(1, 4);
    head.writeUInt16BE(answers.length, 6);
    head.writeUInt32BE(0, 8);
    socket.send(Buffer.concat([head, ...answers]), peer.port, peer.address);
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

export interface PebbleOptions {
  /** The A record pebble gets for a name (default 127.0.0.1 for all). */
  addressFor?(name: string): string;
  /** Lifetime of issued certificates in seconds (pebble's default is five years). */
  certificateValiditySeconds?: number;
  /** Where the TXT records of DNS-01 challenges are read from (a file per name, a value per line). */
  txtDir?: string;
}

export interface PreparedPebble {
  directoryUrl: string;
  httpsCaPath: string;
  /** Starts pebble (again) on the prepared ports with the prepared HTTPS certificate. */
  start(): Promise<Pebble>;
}

/** Starts pebble validating HTTP-01 on `httpPort` of 127.0.0.1. */
export async function startPebble(dir: string, httpPort: number, opts: PebbleOptions = {}): Promise<Pebble> {
  return (await preparePebble(dir, httpPort, opts)).start();
}

/**
 * Pebble, and a spokes server in Let's Encrypt mode ordering from it (`acme` and `config`
 * are merged into its config file); `root` is the root of the certificates pebble issues,
 * saved in `dir`, for curl and clients to trust. Pebble is stopped again when spokes fails to start.
 */
export async function startAcmeServer(
  dir: string,
  opts: { pebble?: PebbleOptions; acme?: Record<string, unknown>; config?: Record<string, unknown> } = {},
): Promise<{ pebble: Pebble; server: TestServer; root: string }> {
  const ports = { http: await freePort(), https: await freePort() };
  const pebble = await startPebble(dir, ports.http, opts.pebble);
  try {
    const server = await startServer({
      ports,
      config: { tls: { useLE: true }, acme: { directoryUrl: pebble.directoryUrl, ...opts.acme }, ...opts.config },
      env: { SPOKES_ACME_CA_FILE: pebble.httpsCaPath },
    });
    return { pebble, server, root: await pebble.saveRoot(join(dir, "pebble-root.pem")) };
  } catch (err) {
    await pebble.stop();
    throw err;
  }
}

/**
 * Writes pebble's configuration and HTTPS certificate without starting it, so a test can
 * point a client at a CA that is not up yet.
 */
export async function preparePebble(dir: string, httpPort: number, opts: PebbleOptions = {}): Promise<PreparedPebble> {
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
        ...(opts.certificateValiditySeconds ? { certificateValidityPeriod: opts.certificateValiditySeconds } : {}),
      },
    }),
  );
  const directoryUrl = `https://127.0.0.1:${ports.acme}/dir`;
  const start = async (): Promise<Pebble> => {
    const dns = await startDnsStub(opts.addressFor ?? (() => "127.0.0.1"), opts.txtDir);
    let stopped = false;
    const { proc, log } = spawnLogged([PEBBLE!, "-config", config, "-dnsserver", `127.0.0.1:${dns.port}`], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" });
    await log.waitFor("ACME directory available", { proc });
    return {
      proc,
      log,
      directoryUrl,
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
  };
  return { directoryUrl, httpsCaPath, start };
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
