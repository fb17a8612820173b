// What the bench and soak scripts share: a scratch directory and the processes they start,
// both removed on the way out (exit, Ctrl-C, SIGTERM), processes killed by PID.
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function scratchRun(prefix: string): { dir: string; children: Set<Subprocess> } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const children = new Set<Subprocess>();
  process.on("exit", () => {
    for (const c of children) {
      try {
        process.kill(c.pid, "SIGKILL");
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));
  return { dir, children };
}
