// Runs a real executable inside private Linux namespaces, so a test can exercise what it
// does to system paths (/etc, /run, /var/lib, ports 80 and 443) without touching the
// machine: `unshare --mount` with overlays whose writes land in a temp dir, optionally
// `--net` for a private loopback. Needs root (CAP_SYS_ADMIN); tests skip otherwise.
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** True when this process may create mount (and network) namespaces with overlays. */
export const canUnshare: boolean = (() => {
  if (process.getuid?.() !== 0) return false;
  const r = Bun.spawnSync(["unshare", "--mount", "--net", "--fork", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], { stdout: "ignore", stderr: "ignore" });
  return r.exitCode === 0;
})();

export interface NamespaceOptions {
  /** Temp dir holding the overlays' upper layers: `<root>/etc-up` collects what was written to /etc. */
  root: string;
  /** System directories made writable copy-on-write (`/etc`, `/run`, `/var/lib`). */
  overlays: string[];
  /** A private network namespace with loopback up. */
  net?: boolean;
  /** Shell run inside before the command (after the overlays). */
  setup?: string;
}

/** The argv that runs `argv` in the namespaces; killing its PID kills the command too (--kill-child). */
export function namespaceCommand(opts: NamespaceOptions, argv: string[]): string[] {
  const mounts = opts.overlays.map((dir) => {
    const tag = dir.replace(/\//g, "_");
    mkdirSync(join(opts.root, `${tag}-up`), { recursive: true });
    mkdirSync(join(opts.root, `${tag}-work`), { recursive: true });
    return `mount -t overlay overlay -o lowerdir=${dir},upperdir=${opts.root}/${tag}-up,workdir=${opts.root}/${tag}-work ${dir}`;
  });
  const script = ["set -e", ...(opts.net ? ["ip link set lo up"] : []), ...mounts, opts.setup ?? "", 'exec "$@"'].join("\n");
  return ["unshare", "--mount", "--fork", "--kill-child", ...(opts.net ? ["--net"] : []), "bash", "-c", script, "namespace", ...argv];
}

/** Where the overlay of `dir` keeps the files written to it. */
export const upperDir = (root: string, dir: string) => join(root, `${dir.replace(/\//g, "_")}-up`);
