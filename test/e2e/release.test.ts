// `npm run release` end to end: scripts/release.ts builds all three platforms into a temp
// release directory; SHA256SUMS is checked by coreutils' `sha256sum -c`; the arm64 and
// darwin files carry the right executable headers (checked by hand and with file(1)); the
// linux-x64 executables run from an empty directory with no node_modules anywhere near:
// version, and a real `spokes serve` on an embedded database answering curl over HTTPS.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, openSync, readdirSync, readSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { ROOT, freePort, randomPortRange, run, tempDir } from "../helpers.ts";
import { spawnLogged, stopAll } from "./_tunnel-harness.ts";

// Six cross-compiled executables: ~40 s here the first time (Bun downloads the other
// platforms' runtimes and npm packs their libsql addons), ~15 s once cached.
setDefaultTimeout(300_000);
afterAll(stopAll);

const PLATFORMS = ["linux-x64", "linux-arm64", "darwin-arm64"];
const outdir = tempDir("spokes-release-");
let built = false;

// bun test sets NODE_ENV=test, which the bundler would bake into the executables (consola
// then hides info lines): build as `npm run release` does, without it.
const { NODE_ENV: _, SPOKES_VERSION: __, ...releaseEnv } = process.env;

async function release(): Promise<void> {
  if (built) return;
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts", "release.ts"), "--outdir", outdir], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: releaseEnv });
  const [out, err, code] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text(), await proc.exited];
  if (code !== 0) throw new Error(`release failed (${code}):\n${out}\n${err}`);
  console.log(`release build of ${PLATFORMS.length} platforms: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  built = true;
}

function head(file: string, n: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 0);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** The load command types of a 64-bit Mach-O file (header 32 bytes, then ncmds commands). */
function machoLoadCommands(file: string): number[] {
  const h = head(file, 32);
  const sizeofcmds = h.readUInt32LE(20);
  const cmds = head(file, 32 + sizeofcmds).subarray(32);
  const out: number[] = [];
  for (let off = 0, i = 0; i < h.readUInt32LE(16); i++) {
    out.push(cmds.readUInt32LE(off));
    off += cmds.readUInt32LE(off + 4);
  }
  return out;
}

test("release/<version>/ holds spokes and pktriot for three platforms and a SHA256SUMS that sha256sum -c accepts", async () => {
  await release();
  const names = PLATFORMS.flatMap((p) => [`spokes-${p}`, `pktriot-${p}`]);
  expect(readdirSync(outdir).sort()).toEqual([...names, "SHA256SUMS"].sort());
  const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: outdir, stdout: "pipe", stderr: "pipe" });
  expect(check.stdout.toString().trim().split("\n").sort()).toEqual(names.map((n) => `${n}: OK`).sort());
  expect(check.exitCode).toBe(0);
});

test("each file is an executable of its platform (ELF x86-64, ELF aarch64, Mach-O arm64)", async () => {
  await release();
  const hasFile = Bun.spawnSync(["sh", "-c", "command -v file"]).exitCode === 0;
  for (const name of ["spokes", "pktriot"]) {
    for (const p of PLATFORMS) {
      const path = join(outdir, `${name}-${p}`);
      const h = head(path, 20);
      if (p.startsWith("linux")) {
        // ELF, 64-bit, little-endian, executable; e_machine 62 = x86-64, 183 = AArch64.
        expect([...h.subarray(0, 6)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
        expect(h.readUInt16LE(18)).toBe(p === "linux-x64" ? 62 : 183);
      } else {
        // MH_MAGIC_64, CPU_TYPE_ARM64 (0x0100000c), MH_EXECUTE (2).
        expect(h.readUInt32LE(0)).toBe(0xfeedfacf);
        expect(h.readUInt32LE(4)).toBe(0x0100000c);
        expect(h.readUInt32LE(12)).toBe(2);
        // Apple silicon refuses unsigned code: Bun adds an ad-hoc signature (LC_CODE_SIGNATURE, 0x1d).
        expect(machoLoadCommands(path)).toContain(0x1d);
      }
      if (hasFile) {
        const described = Bun.spawnSync(["file", "-b", path]).stdout.toString();
        expect(described).toMatch(p === "linux-x64" ? /^ELF 64-bit LSB executable, x86-64/ : p === "linux-arm64" ? /^ELF 64-bit LSB executable, ARM aarch64/ : /^Mach-O 64-bit arm64 executable/);
      }
    }
  }
});

test("the linux-x64 executables run from an empty directory: version, and spokes serve on an embedded database", async () => {
  await release();
  const empty = tempDir("spokes-release-run-");
  for (const name of ["spokes-linux-x64", "pktriot-linux-x64"]) copyFileSync(join(outdir, name), join(empty, name));
  Bun.spawnSync(["chmod", "+x", join(empty, "spokes-linux-x64"), join(empty, "pktriot-linux-x64")]);
  const env = { PATH: "/usr/bin:/bin" };
  for (const name of ["spokes-linux-x64", "pktriot-linux-x64"]) {
    const r = run(join(empty, name), ["version"], { cwd: empty, env });
    expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
  }

  const spokes = join(empty, "spokes-linux-x64");
  const writeConfig = (listen: { http: number; https: number }) =>
    writeFileSync(join(empty, "config.json"), JSON.stringify({ domain: "release.test", dataPath: empty, portRange: randomPortRange(), tls: { selfSigned: true }, listen: { address: "127.0.0.1", ...listen } }));
  writeConfig({ http: 0, https: 0 });
  const added = run(spokes, ["users", "add", "--email", "ops@example.com", "--fullname", "Ops", "--password-stdin", "--config", "config.json"], { cwd: empty, env, stdin: "correct horse battery\n" });
  expect(added.stderr).toBe("");
  expect(added.stdout).toContain("User created!");
  // Ports picked just before the start: the slow password hash above would widen the race with other processes.
  const [http, https] = [await freePort(), await freePort()];
  writeConfig({ http, https });
  // env -C: the server too runs with the empty directory as its working directory.
  const { proc, log } = spawnLogged(["env", "-C", empty, spokes, "serve", "--config", "config.json"]);
  const t0 = performance.now();
  await log.waitFor(`serving release.test: http 127.0.0.1:${http}, https 127.0.0.1:${https}`, { proc, timeoutMs: 60_000 });
  console.log(`release spokes serving after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const page = Bun.spawnSync(["curl", "-sS", "-k", "-L", "--max-time", "10", "--resolve", `release.test:${https}:127.0.0.1`, `https://release.test:${https}/`], { stdout: "pipe", stderr: "pipe" });
  expect(page.stderr.toString()).toBe("");
  expect(page.stdout.toString()).toMatch(/<form[^>]*>/i);
  const users = run(spokes, ["users", "ls", "--json", "--config", "config.json"], { cwd: empty, env });
  expect(JSON.parse(users.stdout).map((u: { email: string }) => u.email)).toEqual(["ops@example.com"]);
  expect(readdirSync(empty)).toContain("spokes.db");
});

test("a target whose libsql addon is neither installed nor fetched fails the build naming it; an unknown release platform is refused", () => {
  // linux-arm64-musl is not a release platform, so nothing fetches its addon.
  const outdir = tempDir("spokes-build-missing-");
  const build = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build.ts"), "--target", "bun-linux-arm64-musl", "--outdir", outdir], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: releaseEnv });
  expect(build.stderr.toString()).toBe("error: @libsql/linux-arm64-musl is not installed for target bun-linux-arm64-musl: run `npm run release` (fetches it into .cache/libsql) or install it\n");
  expect(build.exitCode).toBe(1);
  expect(readdirSync(outdir)).toEqual([]);
  const release = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "release.ts"), "--platforms", "windows-x64", "--outdir", outdir], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: releaseEnv });
  expect(release.stderr.toString()).toBe("error: unknown platform windows-x64 (release platforms: linux-x64, linux-arm64, darwin-arm64)\n");
  expect(release.exitCode).toBe(1);
});
