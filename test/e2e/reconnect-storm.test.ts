// A small run of scripts/soak-reconnect.ts (100 real tunnel clients instead of 1,000):
// dist/spokes is killed with SIGKILL and restarted on the same ports and database; the
// restarted server stays up, with bounded memory, and every tunnel has a new session well
// within the bound, with no login refused along the way. README "Reliability figures"
// has the 1,000-client run.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT, SPOKES_BIN, track } from "../helpers.ts";
import { existsSync } from "node:fs";

if (!existsSync(SPOKES_BIN)) throw new Error("dist/ executables are missing: run `bun scripts/build.ts` first");

test("100 clients reconnect after kill -9 of the server", async () => {
  const proc = track(
    Bun.spawn([process.execPath, join(ROOT, "scripts", "soak-reconnect.ts"), "--clients", "100", "--procs", "1", "--bound-s", "45", "--max-rss-mib", "512", "--timeout-s", "130", "--json"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, BENCH_CLIENT_WARN: "1" },
    }),
  );
  // SIGTERM lets the script kill its server and clients by PID on the way out.
  const timer = setTimeout(() => proc.kill("SIGTERM"), 140_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const last = stdout.trim().split("\n").at(-1) ?? "";
  if (!last.startsWith("{")) throw new Error(`soak printed no result (exit ${code}):\n${stderr.slice(-3000)}`);
  const r = JSON.parse(last);
  expect({ code, serverAlive: r.serverAlive, backOnline: r.backOnline, refusals: r.serverLogRefusals }).toEqual({ code: 0, serverAlive: true, backOnline: 100, refusals: 0 });
  expect(r.restartToAllS).toBeLessThanOrEqual(45);
  expect(r.serverPeakRssMiB).toBeGreaterThan(0);
  expect(r.serverPeakRssMiB).toBeLessThanOrEqual(512);
  // Only the kill itself and the downtime show in the clients' disconnect reasons.
  expect(stderr).not.toContain("no hello");
  expect(stderr).not.toContain("refused");
}, 150_000);
