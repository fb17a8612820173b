// Scale run: one dist/spokes with N idle connected tunnels (default 1,000), simulated
// by a few client processes (scripts/bench-scale-clients.ts), each tunnel with one HTTP
// rule. Reports the server's RSS per tunnel above the empty server's baseline, and the
// time to open a stream through a random tunnel (connect to the HTTP port, request with
// that tunnel's Host, first response byte): p50/p99.
//   bun scripts/bench-scale.ts [--tunnels 1000] [--procs 4] [--requests 1000]
import { openDatabase } from "../db/client.ts";
import { createAuthToken } from "../db/queries/auth-tokens.ts";
import { listTunnels } from "../db/queries/tunnels.ts";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "node:net";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg("tunnels", 1000);
const PROCS = arg("procs", 4);
const REQUESTS = arg("requests", 1000);
const root = resolve(import.meta.dir, "..");
const dir = mkdtempSync(join(tmpdir(), "spokes-scale-"));
const children: { kill(sig?: number): void }[] = [];
const cleanup = () => {
  for (const c of children) {
    try {
      c.kill(9);
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true });
};
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

const http = await freePort();
const https = await freePort();
const configPath = join(dir, "config.json");
writeFileSync(
  configPath,
  JSON.stringify({ domain: "scale.test", dataPath: dir, tls: { selfSigned: true }, listen: { address: "127.0.0.1", http, https }, portRange: { begin: 45000, end: 45099 } }),
);
const server = Bun.spawn([join(root, "dist", "spokes"), "serve", "--config", configPath], { stdout: "pipe", stderr: "pipe", env: { ...process.env } });
children.push(server);
let log = "";
(async () => {
  for await (const c of server.stdout as unknown as AsyncIterable<Uint8Array>) {
    const text = new TextDecoder().decode(c);
    log += text;
    if (process.env.SPOKES_DEBUG_MEMORY) process.stdout.write(text.split("\n").filter((l) => l.includes("memory:")).map((l) => `server ${l.trim()}\n`).join(""));
  }
})();
for (let i = 0; i < 100 && !log.includes("serving"); i++) await Bun.sleep(100);
if (!log.includes("serving")) throw new Error(`server did not start: ${log}`);

// Tokens straight into the database (the CLI would take a process per token).
const { db, close } = await openDatabase({ path: join(dir, "spokes.db") });
const keys: string[] = [];
for (let i = 0; i < N; i++) keys.push((await createAuthToken(db, { hostname: `t${i}.scale.test` })).token.value);
close();
writeFileSync(join(dir, "keys.json"), JSON.stringify(keys));
await Bun.sleep(2000);
Bun.gc(true);
const base = rssKiB(server.pid);
console.log(`empty server RSS: ${(base / 1024).toFixed(1)} MiB`);

const per = Math.ceil(N / PROCS);
const t0 = performance.now();
for (let p = 0; p < PROCS; p++) {
  const from = p * per;
  const to = Math.min(N, from + per);
  if (from >= to) break;
  const c = Bun.spawn(["bun", join(root, "scripts", "bench-scale-clients.ts"), String(https), join(dir, "tls", "self-signed.crt"), join(dir, "keys.json"), String(from), String(to)], {
    stdout: "inherit",
    stderr: "inherit",
  });
  children.push(c);
}

const online = async () => {
  const { db, close: c } = await openDatabase({ path: join(dir, "spokes.db") });
  const n = (await listTunnels(db, { online: true })).length;
  c();
  return n;
};
let n = 0;
for (let i = 0; i < 600 && n < N; i++) {
  await Bun.sleep(500);
  n = await online();
}
console.log(`${n} tunnels online after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
await Bun.sleep(3000);
const loaded = rssKiB(server.pid);
console.log(`server RSS with ${n} tunnels: ${(loaded / 1024).toFixed(1)} MiB; per tunnel above baseline: ${((loaded - base) / n).toFixed(1)} KiB`);

function timeRequest(i: number): Promise<number> {
  return new Promise((res, rej) => {
    const t = performance.now();
    const s = connect({ host: "127.0.0.1", port: http, noDelay: true }, () => {
      s.write(`GET / HTTP/1.1\r\nHost: t${i}.scale.test\r\nConnection: close\r\n\r\n`);
    });
    s.once("data", (d) => {
      const ms = performance.now() - t;
      s.destroy();
      if (!d.toString("latin1").startsWith("HTTP/1.1 200")) rej(new Error(`tunnel t${i}: ${d.toString("latin1").split("\r\n")[0]}`));
      else res(ms);
    });
    s.once("error", rej);
  });
}
const times: number[] = [];
let failed = 0;
for (let r = 0; r < REQUESTS; r++) {
  try {
    times.push(await timeRequest(Math.floor(Math.random() * n)));
  } catch {
    failed++;
  }
}
times.sort((a, b) => a - b);
const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2);
console.log(`stream open (connect → routed request → first byte) over ${times.length} requests: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, failed ${failed}`);
console.log(
  JSON.stringify({ tunnels: n, baseMiB: +(base / 1024).toFixed(1), loadedMiB: +(loaded / 1024).toFixed(1), perTunnelKiB: +((loaded - base) / n).toFixed(1), p50ms: +q(0.5), p99ms: +q(0.99), failed }),
);
process.exit(0);
