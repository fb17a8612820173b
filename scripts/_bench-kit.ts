// What the tunnel benches (bench-mesh, bench-cluster) share: starting the dist/ executables
// and waiting for their readiness line, the upstream child, and the two measurements
// (one bulk upload to the sink; sequential connect + 1-byte echo + close).
import type { Subprocess } from "bun";
import { join, resolve } from "node:path";
import { uploadToSink } from "./_tcp-sink.ts";

export { freePort } from "../test/ports.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const SPOKES = join(ROOT, "dist", "spokes");
export const PKTRIOT = join(ROOT, "dist", "pktriot");

export const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** Starts a process (tracked in `children`), collects its output, resolves once `ready` appears in it. */
export async function start(children: Set<Subprocess>, cmd: string[], ready: string | RegExp, timeoutMs = 20_000): Promise<{ proc: Subprocess; out: () => string }> {
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

/** The upstream child (scripts/_bench-upstream.ts): the sink's and the echo's ports. */
export async function startUpstreams(children: Set<Subprocess>): Promise<{ sink: number; echo: number }> {
  const json = /\{"sink":\d+,"echo":\d+\}/;
  const upstream = await start(children, [process.execPath, join(import.meta.dir, "_bench-upstream.ts")], json);
  return JSON.parse(upstream.out().match(json)![0]) as { sink: number; echo: number };
}

export async function must(cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")}: exit ${code}: ${err}${out}`);
  return out;
}

/** Polls until `probe` says the path works end to end. */
export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const UPLOAD_CHUNK = new Uint8Array(1024 * 1024).fill(0x61);

/** One upload to the sink, timed from connect to the sink's count. */
export async function throughput(port: number, bytes: number, hostname = "127.0.0.1"): Promise<{ seconds: number; mibPerSec: number }> {
  const { seconds } = await uploadToSink(port, bytes, UPLOAD_CHUNK, hostname);
  return { seconds, mibPerSec: bytes / 1024 / 1024 / seconds };
}

/** One connect + 1 byte echoed + close, in milliseconds. */
export function echoOnce(port: number, hostname = "127.0.0.1"): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const t0 = performance.now();
    const timer = setTimeout(() => reject(new Error(`echo on ${hostname}:${port} timed out`)), 10_000);
    void Bun.connect({
      hostname,
      port,
      socket: {
        open(s) {
          s.setNoDelay(true);
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

/** `n` sequential echoOnce: mean, p50 and p99 in milliseconds. */
export async function setupTimes(port: number, n: number, hostname = "127.0.0.1"): Promise<{ mean: number; p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push(await echoOnce(port, hostname));
  return percentiles(times);
}

/** Mean, p50 and p99 of a list of milliseconds. */
export function percentiles(times: number[]): { mean: number; p50: number; p99: number } {
  const n = times.length;
  const sorted = [...times].sort((a, b) => a - b);
  return { mean: sorted.reduce((a, b) => a + b, 0) / n, p50: sorted[Math.floor(n * 0.5)]!, p99: sorted[Math.min(n - 1, Math.floor(n * 0.99))]! };
}
