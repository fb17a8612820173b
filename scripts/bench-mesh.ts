// Mesh benchmark: the cost of `pktriot ports map` (client B → server → client A → upstream)
// against connecting to the upstream directly, and against the public allocated port
// (server → client A → upstream), in one run on 127.0.0.1 with the dist/ executables.
//
//   bun scripts/bench-mesh.ts [--bytes 1073741824] [--conns 500]
//
// Throughput: one connection sends --bytes to a sink that answers with the count when the
// sender half-closes. Connection setup: --conns sequential connect + 1 byte echoed + close.
// The upstreams run in a child process (this file with --upstream) so the measuring side
// and the services do not share one event loop.
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { scratchRun } from "./_scratch.ts";
import { uploadToSink } from "./_tcp-sink.ts";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

// ---- upstream child: a sink (count bytes, answer the count at end) and a 1-byte echo ---------
if (process.argv.includes("--upstream")) {
  const sink = Bun.listen<{ n: number }>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: { n: 0 },
    socket: {
      open(s) {
        s.data = { n: 0 };
      },
      data(s, chunk) {
        s.data.n += chunk.length;
      },
      end(s) {
        s.end(`${s.data.n}\n`);
      },
    },
  });
  const echo = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s, chunk) {
        s.write(chunk);
      },
    },
  });
  console.log(JSON.stringify({ sink: sink.port, echo: echo.port }));
  await new Promise(() => {});
}

const ROOT = resolve(import.meta.dir, "..");
const SPOKES = join(ROOT, "dist", "spokes");
const PKTRIOT = join(ROOT, "dist", "pktriot");
const BYTES = arg("--bytes", 1024 ** 3);
const CONNS = arg("--conns", 500);

const { dir, children } = scratchRun("spokes-bench-mesh-");

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

/** Starts a process, collects its output, resolves once `ready` appears in it. */
async function start(cmd: string[], ready: string | RegExp, timeoutMs = 20_000): Promise<{ proc: Subprocess; out: () => string }> {
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, NO_COLOR: "1" } });
  children.add(proc);
  let text = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const c of s as unknown as AsyncIterable<Uint8Array>) text += dec.decode(c, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const deadline = Date.now() + timeoutMs;
  while (!(typeof ready === "string" ? text.includes(ready) : ready.test(text))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${cmd.join(" ")} not ready (${ready}):\n${text}`);
    await Bun.sleep(20);
  }
  return { proc, out: () => text };
}

async function must(cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")}: exit ${code}: ${err}${out}`);
  return out;
}

/** Polls until a connect to the port succeeds and `probe` says the path works end to end. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---- measurements ------------------------------------------------------------------------------

const UPLOAD_CHUNK = new Uint8Array(1024 * 1024).fill(0x61);

/** One upload to the sink, timed from connect to the sink's count. */
async function throughput(port: number, bytes: number): Promise<{ seconds: number; mibPerSec: number }> {
  const { seconds } = await uploadToSink(port, bytes, UPLOAD_CHUNK);
  return { seconds, mibPerSec: bytes / 1024 / 1024 / seconds };
}

/** One connect + 1 byte echoed + close, in milliseconds. */
function echoOnce(port: number): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const timer = setTimeout(() => reject(new Error(`echo on ${port} timed out`)), 10_000);
    void Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write("x");
        },
        data(s) {
          clearTimeout(timer);
          resolveRun(performance.now() - t0);
          s.end();
        },
        connectError(_s, err) {
          clearTimeout(timer);
          reject(err);
        },
      },
    }).catch(reject);
  });
}

async function setup(port: number, n: number): Promise<{ mean: number; p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await echoOnce(port));
  times.sort((a, b) => a - b);
  return { mean: times.reduce((a, b) => a + b, 0) / n, p50: times[Math.floor(n * 0.5)]!, p99: times[Math.min(n - 1, Math.floor(n * 0.99))]! };
}

// ---- the topology ------------------------------------------------------------------------------

const upstream = await start([process.execPath, import.meta.path, "--upstream"], /\{"sink":\d+,"echo":\d+\}/);
const ports = JSON.parse(upstream.out().match(/\{"sink":\d+,"echo":\d+\}/)![0]) as { sink: number; echo: number };

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
