// Cluster benchmark: the cost of a peer hop. Two spokes nodes (a on 127.0.0.1, b on
// 127.0.0.2) share a private PostgreSQL; one pktriot client is connected to node b. The
// same forwarded ports are measured through node b (direct: visitor → b → client) and
// through node a (peer hop: visitor → a → peer link → b → client), in one run:
//
//   bun scripts/bench-cluster.ts [--bytes 1073741824] [--conns 500] [--rounds 3] [--advertise tunnel|https]
//   (npm run bench:cluster)
//
// Throughput: one connection sends --bytes to a sink that answers the count at EOF, once
// per round and path (the median is reported).
// New-connection time: --conns sequential connect + 1 byte echoed + close (the stream
// open through the tunnel is what the peer hop adds to). Targets (issue 10): the peer hop
// keeps at least 0.6x the direct throughput, and its p99 new-connection time is under 10 ms.
// Needs the dist/ executables (`bun scripts/build.ts`) and PostgreSQL's binaries
// (scripts/setup-test-deps.sh installs Debian's postgresql).
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startPostgres } from "../test/postgres-cluster.ts";
import { randomPortRange } from "../test/ports.ts";
import { scratchRun } from "./_scratch.ts";
import { PKTRIOT, SPOKES, arg, echoOnce, freePort, must, percentiles, setupTimes, start, startUpstreams, throughput, until } from "./_bench-kit.ts";

const BYTES = arg("--bytes", 1024 ** 3);
const CONNS = arg("--conns", 500);
const ROUNDS = Math.max(1, arg("--rounds", 3));
const DOMAIN = "bench.test";
/**
 * The listener `cluster.advertise` names, so peer links go there: `tunnel` (listen.tunnel,
 * Bun's native TLS; the default) or `https` (the SNI front door, TLS in-process).
 */
const ADVERTISE = process.argv.includes("--advertise") ? process.argv[process.argv.indexOf("--advertise") + 1] : "tunnel";
if (ADVERTISE !== "tunnel" && ADVERTISE !== "https") throw new Error("--advertise must be tunnel or https");

const { dir, children } = scratchRun("spokes-bench-cluster-");
const pg = await startPostgres();
process.on("exit", () => pg.stop());
const databaseUrl = await pg.createDatabase("bench_cluster");

// ---- the topology ------------------------------------------------------------------------------

const ports = await startUpstreams(children);
const secret = randomBytes(24).toString("base64url");
const portRange = randomPortRange();

async function node(nodeId: string, address: string): Promise<{ config: string; https: number; address: string }> {
  const [http, https, tunnel] = [await freePort(), await freePort(), await freePort()];
  const data = join(dir, nodeId);
  const config = join(dir, `${nodeId}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      domain: DOMAIN,
      dataPath: data,
      database: { url: databaseUrl },
      portRange,
      tls: { selfSigned: true },
      listen: { address, http, https, tunnel },
      tunOptions: { maxPoolSize: 4, maxPorts: 5 },
      cluster: { nodeId, advertise: `${address}:${ADVERTISE === "https" ? https : tunnel}`, secret },
    }),
  );
  await start(children, [SPOKES, "serve", "--config", config], `serving ${DOMAIN}`, 30_000);
  return { config, https, address };
}
// a first: it migrates the database and stores the cluster's certificate.
const a = await node("a", "127.0.0.1");
const b = await node("b", "127.0.0.2");

const clientConfig = join(dir, "client.json");
const key = (await must([SPOKES, "--config", b.config, "token", "create"])).trim().split("\n").at(-1)!;
await must([PKTRIOT, "unmanaged", "configure", "--config", clientConfig, "--hostname", `${b.address}:${b.https}`, "--key", key, "--ca", join(dir, "b", "tls", "self-signed.crt")]);
const allocate = async () => Number((await must([PKTRIOT, "--config", clientConfig, "tunnel", "tcp", "allocate"])).match(/(\d+)\s*$/)![1]);
const [sinkPort, echoPort] = [await allocate(), await allocate()];
await must([PKTRIOT, "--config", clientConfig, "tunnel", "tcp", "forward", "--port", String(sinkPort), "--destination", "127.0.0.1", "--dstport", String(ports.sink)]);
await must([PKTRIOT, "--config", clientConfig, "tunnel", "tcp", "forward", "--port", String(echoPort), "--destination", "127.0.0.1", "--dstport", String(ports.echo)]);
await start(children, [PKTRIOT, "--config", clientConfig, "start"], "online");

// Node a learns the tunnel's location from the database (1 s sync) and opens the port.
for (const n of [b, a]) await until(`echo through node ${n.address}`, async () => (await echoOnce(echoPort, n.address)) >= 0, 30_000);

// ---- run -------------------------------------------------------------------------------------------

const paths = [
  { name: "direct (visitor at b)", host: b.address },
  { name: "peer hop (visitor at a)", host: a.address },
];
console.log(`cluster bench: ${ROUNDS} rounds of ${(BYTES / 1024 ** 3).toFixed(2)} GiB throughput per path, ${Math.ceil(CONNS / ROUNDS) * ROUNDS} sequential connections (connect + 1-byte echo + close), peer links to ${ADVERTISE === "https" ? "the HTTPS port" : "listen.tunnel"}\n`);

// Warm-up: the first streams grow the client's pool and JIT the paths.
for (const p of paths) {
  await throughput(sinkPort, 32 * 1024 * 1024, p.host);
  await setupTimes(echoPort, 20, p.host);
}

// Rounds alternate which path goes first, and the figures are the median throughput and
// the pooled connection times: on a shared machine one pass of each swings a lot.
const samples = paths.map(() => ({ mibPerSec: [] as number[], times: [] as number[] }));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    const p = paths[i]!;
    samples[i]!.mibPerSec.push((await throughput(sinkPort, BYTES, p.host)).mibPerSec);
    for (let c = 0; c < Math.ceil(CONNS / ROUNDS); c++) samples[i]!.times.push(await echoOnce(echoPort, p.host));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = paths.map((p, i) => ({ name: p.name, mibPerSec: median(samples[i]!.mibPerSec), all: samples[i]!.mibPerSec, ...percentiles(samples[i]!.times) }));

const [direct, hop] = [results[0]!, results[1]!];
const pad = (s: string, n: number) => s.padEnd(n);
console.log(`${pad("path", 26)} ${pad("throughput, median (rounds)", 30)} ${pad("new connection mean / p50 / p99 (ms)", 38)}`);
for (const r of results) {
  console.log(`${pad(r.name, 26)} ${pad(`${r.mibPerSec.toFixed(0)} MiB/s (${r.all.map((x) => x.toFixed(0)).join(", ")})`, 30)} ${r.mean.toFixed(3)} / ${r.p50.toFixed(3)} / ${r.p99.toFixed(3)}`);
}
// Each round's two runs are back to back, under the same load: the ratio is the median of theirs.
const ratio = median(hop.all.map((x, round) => x / direct.all[round]!));
console.log(
  `\npeer hop vs direct: ${ratio.toFixed(2)}x the throughput (median of the rounds' ratios; target >= 0.6x: ${ratio >= 0.6 ? "met" : "NOT met"}), ` +
    `${(hop.mean / direct.mean).toFixed(2)}x the new-connection time; p99 ${hop.p99.toFixed(2)} ms (target < 10 ms: ${hop.p99 < 10 ? "met" : "NOT met"})`,
);
process.exit(0);
