// Reconnect storm soak: one dist/spokes with N connected tunnels (default 1,000, real
// tunnel clients — the client engine of pktriot, many per process, as in bench-scale),
// then SIGKILL of the server and a restart on the same ports, database and certificate.
// Measures: the restarted server stays up, its peak RSS (VmHWM), and the time from the
// restart until every tunnel has a new session (state online with connected_at after the
// kill, read from the database), against a bound (default 60 s). Clients keep pktriot's
// default backoff (1 s doubling to 60 s, ±30 % jitter). Every process is killed by PID;
// a hard timeout ends the run.
// BENCH_CLIENT_WARN=1 counts the clients' disconnect reasons.
//   bun scripts/soak-reconnect.ts [--clients 1000] [--procs 4] [--bound-s 60] [--max-rss-mib 1024] [--timeout-s 300] [--json]
import { and, count, eq, gt } from "drizzle-orm";
import { openDatabase } from "../db/client.ts";
import { createAuthToken } from "../db/queries/auth-tokens.ts";
import { TUNNEL_STATE, tunnels } from "../db/schema.ts";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { scratchRun } from "./_scratch.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`error: --${name} must be a positive number`);
    process.exit(2);
  }
  return v;
};
const N = arg("clients", 1000);
const PROCS = arg("procs", 4);
const BOUND_MS = arg("bound-s", 60) * 1000;
const MAX_RSS_KIB = arg("max-rss-mib", 1024) * 1024;
const TIMEOUT_MS = arg("timeout-s", 300) * 1000;
const JSON_ONLY = process.argv.includes("--json");
const say = (line: string) => (JSON_ONLY ? console.error(line) : console.log(line));

const root = resolve(import.meta.dir, "..");
const { dir, children } = scratchRun("spokes-soak-");
const hardStop = setTimeout(() => {
  console.error(`error: soak did not finish within ${TIMEOUT_MS / 1000} s`);
  process.exit(3);
}, TIMEOUT_MS);
hardStop.unref();

const PORT_RANGE = { begin: 46000, end: 46099 };
const taken = new Set<number>();
/** A free port outside the tunnel port range, not handed out before. */
async function freePort(): Promise<number> {
  for (;;) {
    const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const p = s.port;
    s.stop(true);
    if ((p < PORT_RANGE.begin || p > PORT_RANGE.end) && !taken.has(p)) {
      taken.add(p);
      return p;
    }
  }
}
const procStatus = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

const http = await freePort();
const https = await freePort();
const configPath = join(dir, "config.json");
writeFileSync(configPath, JSON.stringify({ domain: "soak.test", dataPath: dir, tls: { selfSigned: true }, listen: { address: "127.0.0.1", http, https }, portRange: PORT_RANGE }));

/** Starts dist/spokes and resolves once it serves; its log is kept for the refusal count. */
async function startServer(): Promise<{ proc: Subprocess; log: () => string }> {
  const proc = Bun.spawn([join(root, "dist", "spokes"), "serve", "--config", configPath], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  let log = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const c of s as unknown as AsyncIterable<Uint8Array>) log += dec.decode(c, { stream: true });
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  const deadline = Date.now() + 30_000;
  while (!log.includes("serving")) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${log}`);
    await Bun.sleep(20);
  }
  return { proc, log: () => log };
}

let server = await startServer();

// Tokens straight into the database (the CLI would take a process per token).
{
  const { db, close } = await openDatabase({ path: join(dir, "spokes.db") });
  const keys: string[] = [];
  for (let i = 0; i < N; i++) keys.push((await createAuthToken(db, { hostname: `t${i}.soak.test` })).token.value);
  close();
  writeFileSync(join(dir, "keys.json"), JSON.stringify(keys));
}

let clientErrors = "";
const per = Math.ceil(N / PROCS);
for (let p = 0; p < PROCS; p++) {
  const from = p * per;
  const to = Math.min(N, from + per);
  if (from >= to) break;
  const c = Bun.spawn([process.execPath, join(root, "scripts", "bench-scale-clients.ts"), String(https), join(dir, "tls", "self-signed.crt"), join(dir, "keys.json"), String(from), String(to)], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  children.add(c);
  void (async () => {
    for await (const chunk of c.stderr as unknown as AsyncIterable<Uint8Array>) clientErrors += new TextDecoder().decode(chunk);
  })();
}

// One read-only use of the database for the polls (WAL: readers never block the server).
const poll = await openDatabase({ path: join(dir, "spokes.db") });

/** Tunnels online whose session started after `since` (ms). */
async function onlineSince(since: number): Promise<number> {
  const [row] = await poll.db
    .select({ n: count() })
    .from(tunnels)
    .where(and(eq(tunnels.state, TUNNEL_STATE.online), gt(tunnels.connectedAt, new Date(since))));
  return row?.n ?? 0;
}

async function waitAllOnline(since: number, limitMs: number, marks: Record<string, number>, t0: number): Promise<number> {
  let n = 0;
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    n = await onlineSince(since);
    const elapsed = performance.now() - t0;
    for (const [label, frac] of [["p50", 0.5], ["p90", 0.9], ["p99", 0.99], ["all", 1]] as const) if (marks[label] === undefined && n >= Math.ceil(frac * N)) marks[label] = elapsed;
    if (n >= N) break;
    await Bun.sleep(250);
  }
  return n;
}

const tFirst = performance.now();
const firstMarks: Record<string, number> = {};
const firstOnline = await waitAllOnline(0, 180_000, firstMarks, tFirst);
say(`${firstOnline}/${N} tunnels online after ${((performance.now() - tFirst) / 1000).toFixed(1)} s (first connect, staggered)`);
if (firstOnline < N) {
  say(`server log (last lines):\n${server.log().split("\n").slice(-30).join("\n")}\nclient errors:\n${clientErrors.split("\n").slice(-10).join("\n")}`);
  throw new Error("not every tunnel came online before the kill");
}
const rssBeforeKiB = procStatus(server.proc.pid, "VmRSS");

// ---- the crash --------------------------------------------------------------------
const killedAt = Date.now();
process.kill(server.proc.pid, "SIGKILL");
await server.proc.exited;
children.delete(server.proc);
const tRestart = performance.now();
server = await startServer();
const startupMs = performance.now() - tRestart;
say(`server killed with SIGKILL and restarted (pid ${server.proc.pid}), serving again after ${(startupMs / 1000).toFixed(1)} s`);

const marks: Record<string, number> = {};
const back = await waitAllOnline(killedAt, BOUND_MS, marks, tRestart);
// Settle, then read the restarted server's peak: the storm is over, its high-water mark stays.
await Bun.sleep(3000);
const alive = server.proc.exitCode === null;
const hwmKiB = alive ? procStatus(server.proc.pid, "VmHWM") : 0;
const rssKiB = alive ? procStatus(server.proc.pid, "VmRSS") : 0;
const refusals = (server.log().match(/refus|rate.?limit|too many/gi) ?? []).length;
const s = (ms: number | undefined) => (ms === undefined ? null : +(ms / 1000).toFixed(1));
const result = {
  clients: N,
  clientProcesses: Math.min(PROCS, Math.ceil(N / per)),
  backOnline: back,
  restartToServingS: s(startupMs),
  restartToHalfS: s(marks.p50),
  restartTo90S: s(marks.p90),
  restartTo99S: s(marks.p99),
  restartToAllS: s(marks.all),
  boundS: BOUND_MS / 1000,
  serverAlive: alive,
  serverPeakRssMiB: +(hwmKiB / 1024).toFixed(1),
  serverRssAfterMiB: +(rssKiB / 1024).toFixed(1),
  serverRssBeforeKillMiB: +(rssBeforeKiB / 1024).toFixed(1),
  maxRssMiB: MAX_RSS_KIB / 1024,
  serverLogRefusals: refusals,
  clientErrorLines: clientErrors.split("\n").filter(Boolean).length,
  loadavg: loadavg().map((l) => +l.toFixed(2)),
};
say(`${back}/${N} tunnels back online; restart → 50 % ${result.restartToHalfS} s, 90 % ${result.restartTo90S} s, all ${result.restartToAllS ?? `not within ${BOUND_MS / 1000}`} s`);
say(`restarted server: ${alive ? "alive" : "DEAD"}, peak RSS (VmHWM) ${result.serverPeakRssMiB} MiB, RSS now ${result.serverRssAfterMiB} MiB (before the kill: ${result.serverRssBeforeKillMiB} MiB)`);
say(`login refusals / rate-limit lines in the server log: ${refusals}; client error lines: ${result.clientErrorLines}`);
// Why clients were disconnected (BENCH_CLIENT_WARN=1 makes them say), most frequent first.
const reasons = new Map<string, number>();
for (const line of clientErrors.split("\n").filter(Boolean)) {
  const why = line.replace(/^warn: disconnected: /, "").replace(/; reconnecting in .*$/, "");
  reasons.set(why, (reasons.get(why) ?? 0) + 1);
}
for (const [why, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 8)) say(`  ${n} x ${why}`);
console.log(JSON.stringify(result));
const ok = alive && back >= N && hwmKiB <= MAX_RSS_KIB;
if (!ok) say("FAIL: " + [!alive && "the server died", back < N && `${N - back} tunnels not back within ${BOUND_MS / 1000} s`, hwmKiB > MAX_RSS_KIB && "peak RSS above the bound"].filter(Boolean).join(", "));
process.exit(ok ? 0 : 1);
