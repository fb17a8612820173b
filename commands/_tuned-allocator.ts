// The long-running commands (`spokes serve`, `pktriot start`, `pktriot http|tcp`) restart
// themselves once, in place (execve: same PID, same arguments), with Bun's allocator
// (mimalloc) told to keep freed pages a little longer.
//
// By default mimalloc returns pages to the kernel 100 ms after they fall free and also
// punches out free "holes" inside pages in use. A tunnel allocates a buffer for every socket
// read and frees it a moment later, so the same pages went back to the kernel and faulted in
// again all the time: 140 page faults per 1,000 proxied HTTP requests in the server, 90 in
// the client. Page faults are expensive on virtual machines, where many tunnel servers run.
// With these settings: 10-20 per 1,000, about 20% less CPU per request, and 1 GiB downloads
// at 0.97-1.05 instead of 1.19 s of server CPU per GiB (docs/performance-log.md). Memory is
// still returned, one second after it falls free; the peak RSS of a 1 GiB transfer rose by
// 3-5 MiB.
//
// mimalloc reads its options from the environment when the process starts, so an executable
// cannot set them for itself without starting again. Anyone who sets either variable
// (MIMALLOC_PURGE_DELAY=100 restores the default) gets no restart and their own values.
import { readFileSync } from "node:fs";

export const TUNED_ALLOCATOR_ENV: Readonly<Record<string, string>> = {
  MIMALLOC_PURGE_DELAY: "1000",
  MIMALLOC_PURGE_HOLES: "0",
};

/** The environment to restart with, or null when the allocator settings are already there (ours or the user's). */
export function tunedAllocatorEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> | null {
  if (Object.keys(TUNED_ALLOCATOR_ENV).some((name) => env[name] !== undefined)) return null;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return { ...out, ...TUNED_ALLOCATOR_ENV };
}

/**
 * Replaces this process with itself under the tuned environment; returns (and the command
 * goes on with the default allocator) where that is not possible: not Linux, no
 * process.execve, or the exec failing. Call it first in a command, before any side effect.
 */
export function restartWithTunedAllocator(): void {
  if (process.platform !== "linux" || typeof process.execve !== "function") return;
  const env = tunedAllocatorEnv(process.env);
  if (env === null) return;
  try {
    // The arguments exactly as this process got them (runtime flags included when run by `bun`).
    const argv = readFileSync("/proc/self/cmdline", "latin1").split("\0").slice(0, -1);
    if (argv.length === 0) return;
    process.execve(process.execPath, argv, env);
  } catch {
    // Keep running with the allocator's defaults.
  }
}
