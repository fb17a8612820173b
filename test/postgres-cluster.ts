// A private PostgreSQL cluster for tests: initdb in a temp dir, a kernel-chosen port on
// 127.0.0.1, its unix socket in the same dir, run as `nobody` when the tests run as root
// (postgres refuses root), stopped by the postmaster's PID. The binaries come from PATH or
// Debian's /usr/lib/postgresql/<version>/bin (scripts/setup-test-deps.sh installs them).
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { freePort } from "./ports.ts";

export interface PostgresCluster {
  /** postgres:// URL of the `postgres` database (superuser `spokes`, trust auth on 127.0.0.1). */
  url: string;
  pid: number;
  /** A new empty database's URL. */
  createDatabase(name: string): Promise<string>;
  stop(): void;
}

function pgBin(name: string): string {
  const onPath = Bun.which(name);
  if (onPath) return onPath;
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", name))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions.length) throw new Error(`${name} not found on PATH or under ${base}/*/bin (run scripts/setup-test-deps.sh)`);
  return join(base, versions[0]!, "bin", name);
}

function runAs(dir: string): string[] {
  if (process.getuid?.() !== 0) return [];
  const id = (flag: string) => Number(Bun.spawnSync(["id", flag, "nobody"]).stdout.toString().trim());
  chownSync(dir, id("-u"), id("-g"));
  return ["runuser", "-u", "nobody", "--"];
}

function check(cmd: string[], what: string): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what} failed (${r.exitCode}): ${r.stderr.toString()}${r.stdout.toString()}`.slice(0, 2000));
}

/** Every cluster this process started and has not stopped: test/preload.ts stops them after the run. */
const running = new Set<PostgresCluster>();

export function stopAllPostgres(): void {
  for (const c of running) c.stop();
}

export async function startPostgres(): Promise<PostgresCluster> {
  const dir = mkdtempSync(join(tmpdir(), "spokes-pg-"));
  const data = join(dir, "data");
  const as = runAs(dir);
  check([...as, pgBin("initdb"), "-D", data, "-U", "spokes", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"], "initdb");
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
  check([...as, pgBin("pg_ctl"), "-D", data, "-l", join(dir, "log"), "-w", "-t", "60", "-o", opts, "start"], "pg_ctl start");
  const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  const url = `postgres://spokes@127.0.0.1:${port}/postgres`;
  let stopped = false;
  const cluster: PostgresCluster = {
    url,
    pid,
    async createDatabase(name) {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`CREATE DATABASE "${name}"`);
      } finally {
        await sql.end({ timeout: 1 });
      }
      return url.replace(/\/postgres$/, `/${name}`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      // SIGQUIT: immediate shutdown (the data is thrown away); wait a bounded time for exit.
      try {
        process.kill(pid, "SIGQUIT");
        for (let i = 0; i < 100 && alive(pid); i++) Bun.sleepSync(50);
        if (alive(pid)) process.kill(pid, "SIGKILL");
      } catch {}
      rmSync(dir, { recursive: true, force: true });
      running.delete(cluster);
    },
  };
  running.add(cluster);
  return cluster;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
