// Shared test helpers: temp dirs, free ports, config files, and the dist/ executables.
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, randomPortRange } from "./ports.ts";

export const ROOT = resolve(import.meta.dir, "..");
export const DIST = join(ROOT, "dist");
export const SPOKES_BIN = join(DIST, "spokes");
export const PKTRIOT_BIN = join(DIST, "pktriot");

const tempDirs: string[] = [];
const children = new Set<{ pid: number; kill(sig?: number | NodeJS.Signals): void }>();

/** A temp directory removed after the file's tests. */
export function tempDir(prefix = "spokes-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Tracks a spawned process so it is killed (by PID) when the test file ends. */
export function track<T extends { pid: number; kill(sig?: number | NodeJS.Signals): void }>(proc: T): T {
  children.add(proc);
  return proc;
}

/**
 * Kills every tracked process (by PID) and removes the temp dirs. Registered per test file
 * by the `afterAll` below, and once more for the whole run by test/preload.ts (bun evaluates
 * this module once, so the module-level hook only binds to the first file importing it).
 */
export function cleanupTracked(): void {
  for (const p of children) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
  children.clear();
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

afterAll(cleanupTracked);

export { freePort, randomPortRange };

/** Writes a minimal server config (unprivileged, self-signed, DB in the dir) and returns its path. */
export function writeServerConfig(dir: string, overrides: Record<string, unknown> = {}): string {
  const cfg = {
    domain: "spokes.test",
    dataPath: dir,
    database: { path: join(dir, "spokes.db") },
    portRange: randomPortRange(),
    tls: { selfSigned: true },
    listen: { address: "127.0.0.1", http: 0, https: 0 },
    ...overrides,
  };
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(cfg, null, 2));
  return path;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs an executable to completion, with optional stdin, and a bounded time. */
export function run(bin: string, args: string[], opts: { stdin?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): RunResult {
  const r = Bun.spawnSync([bin, ...args], {
    stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", TMPDIR: tmpdir(), TZ: "UTC", ...opts.env },
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 30000,
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export const spokes = (args: string[], opts?: Parameters<typeof run>[2]) => run(SPOKES_BIN, args, opts);
export const pktriot = (args: string[], opts?: Parameters<typeof run>[2]) => run(PKTRIOT_BIN, args, opts);

/** Polls `check` until it returns a truthy value or the deadline passes (no fixed sleeps). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}
