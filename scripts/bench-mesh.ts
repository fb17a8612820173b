// Mesh benchmark: the cost of `pktriot ports map` (client B → server → client A → upstream)
// against connecting to the upstream directly, and against the public allocated port
// (server → client A → upstream), in one run on 127.0.0.1 with the dist/ executables.
//
//   bun scripts/bench-mesh.ts [--bytes 1073741824] [--conns 500]
//
// Throughput: one connection sends --bytes to a sink that answers with the count when the
// sender half-closes. Connection setup: --conns sequential connect + 1 byte echoed + close.
// The upstreams run in a child process (scripts/_bench-upstream.ts) so the measuring side
// and the services do not share one event loop.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchRun } from "./_scratch.ts";
import { PKTRIOT, SPOKES, arg, echoOnce, freePort, must, setupTimes as setup, start as startIn, startUpstreams, throughput, until } from "./_bench-kit.ts";

const BYTES = arg("--bytes", 1024 ** 3);
const CONNS = arg("--conns", 500);

const { dir, children } = scratchRun("spokes-bench-mesh-");
const start = (cmd: string[], ready: string | RegExp) => startIn(children, cmd, ready);

// ---- the topology ------------------------------------------------------------------------------

const ports = await startUpstreams(children);

const [http, https] = [await freePort(), await freePort()];
const begin = 20_000 + Math.floor(Math.random() * 100) * 100;
const config = join(dir, "config.json");
writeFileSync(
  config,
  JSON.stringify({
    domain: "bench.test",
    dataPath: dir,
    portRange: { begin, end: begin + 99 },
    tls: { selfSigned: true },
    listen: { address: "127.0.0.1", http, https },
    tunOptions: { maxPoolSize: 4, maxPorts: 5 },
    socks: { enabled: true, port: 0, tlsPort: 0, allow: [], auth: "token" },
  }),
);
await start([SPOKES, "serve", "--config", config], "serving bench.test");

const client = async (name: string) => {
  const path = join(dir, `${name}.json`);
  const key = (await must([SPOKES, "--config", config, "token", "create"])).trim().split("\n").at(-1)!;
  await must([PKTRIOT, "unmanaged", "configure", "--config", path, "--hostname", `127.0.0.1:${https}`, "--key", key, "--ca", join(dir, "tls", "self-signed.crt")]);
  return path;
};
const a = await client("a");
const allocate = async () => Number((await must([PKTRIOT, "--config", a, "tunnel", "tcp", "allocate"])).match(/(\d+)\s*$/)![1]);
const [pubSink, pubEcho] = [await allocate(), await allocate()];
await must([PKTRIOT, "--config", a, "tunnel", "tcp", "forward", "--port", String(pubSink), "--destination", "127.0.0.1", "--dstport", String(ports.sink)]);
await must([PKTRIOT, "--config", a, "tunnel", "tcp", "forward", "--port", String(pubEcho), "--destination", "127.0.0.1", "--dstport", String(ports.echo)]);
await start([PKTRIOT, "--config", a, "start"], "online");

const b = await client("b");
const [mapSink, mapEcho] = [await freePort(), await freePort()];
await must([PKTRIOT, "--config", b, "ports", "map", String(mapSink), "--transport", "tcp", "--destination", "bench.test", "--port", String(pubSink)]);
await must([PKTRIOT, "--config", b, "ports", "map", String(mapEcho), "--transport", "tcp", "--destination", "bench.test", "--port", String(pubEcho)]);
await start([PKTRIOT, "--config", b, "start"], "online");

for (const p of [pubEcho, mapEcho]) await until(`echo through ${p}`, async () => (await echoOnce(p)) >= 0);

// ---- run -------------------------------------------------------------------------------------------

const paths = [
  { name: "direct", sink: ports.sink, echo: ports.echo },
  { name: "public port (1 tunnel)", sink: pubSink, echo: pubEcho },
  { name: "ports map (2 tunnels)", sink: mapSink, echo: mapEcho },
];
const gib = (BYTES / 1024 ** 3).toFixed(2);
console.log(`mesh bench: ${gib} GiB throughput, ${CONNS} sequential connections (connect + 1-byte echo + close)\n`);

// Warm-up: the first streams grow the client's pool and JIT the paths.
for (const p of paths) {
  await throughput(p.sink, 32 * 1024 * 1024);
  await setup(p.echo, 20);
}

const results: { name: string; mibPerSec: number; seconds: number; mean: number; p50: number; p99: number }[] = [];
for (const p of paths) {
  const t = await throughput(p.sink, BYTES);
  const s = await setup(p.echo, CONNS);
  results.push({ name: p.name, ...t, ...s });
}

const direct = results[0]!;
const pad = (s: string, n: number) => s.padEnd(n);
console.log(`${pad("path", 24)} ${pad("throughput", 22)} ${pad("vs direct", 10)} ${pad("setup mean / p50 / p99 (ms)", 30)} vs direct`);
for (const r of results) {
  console.log(
    `${pad(r.name, 24)} ${pad(`${r.mibPerSec.toFixed(0)} MiB/s (${r.seconds.toFixed(2)} s)`, 22)} ${pad(`${((r.mibPerSec / direct.mibPerSec) * 100).toFixed(1)} %`, 10)} ${pad(
      `${r.mean.toFixed(3)} / ${r.p50.toFixed(3)} / ${r.p99.toFixed(3)}`,
      30,
    )} ${(r.mean / direct.mean).toFixed(1)}x`,
  );
}
const [pub, map] = [results[1]!, results[2]!];
// Loopback "direct" is a memcpy and swings run to run; the tunnel-to-tunnel ratio is steadier.
console.log(
  `\nports map vs public port: ${((map.mibPerSec / pub.mibPerSec) * 100).toFixed(1)} % of the throughput, ${(map.mean / pub.mean).toFixed(2)}x the setup time`,
);
process.exit(0);
