// The executables are standalone (SPEC 1): copied alone into an empty directory outside
// the repository, with no bun and no node_modules reachable, they still run, and spokes
// opens a fresh embedded database (its native addon is inside the executable).
import { beforeAll, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { PKTRIOT_BIN, ROOT, run, SPOKES_BIN, tempDir, writeServerConfig } from "../helpers.ts";

for (const bin of [SPOKES_BIN, PKTRIOT_BIN]) if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`bun scripts/build.ts\` first`);

let dir: string;
let env: Record<string, string>;
let config: string;

beforeAll(() => {
  dir = tempDir("spokes-standalone-");
  if (dir.startsWith(ROOT)) throw new Error(`temp dir ${dir} is inside the repository`);
  copyFileSync(SPOKES_BIN, join(dir, "spokes"));
  copyFileSync(PKTRIOT_BIN, join(dir, "pktriot"));
  // The embedded libsql addon is unpacked into TMPDIR at run time.
  mkdirSync(join(dir, "tmp"));
  env = { PATH: "/usr/bin:/bin", HOME: dir, TMPDIR: join(dir, "tmp") };
  config = writeServerConfig(dir);
});

const exe = (name: string, args: string[], opts: { stdin?: string; path?: string } = {}) =>
  run(join(dir, name), args, { env: { ...env, ...(opts.path !== undefined && { PATH: opts.path }) }, cwd: dir, stdin: opts.stdin });

test("bun is not reachable from the test environment", () => {
  const which = run("/usr/bin/which", ["bun"], { env, cwd: dir });
  expect(which.code).not.toBe(0);
  expect(which.stdout).toBe("");
});

test("spokes version", () => {
  expect(exe("spokes", ["version"])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
});

test("spokes users add / users ls on a fresh database", () => {
  expect(existsSync(join(dir, "spokes.db"))).toBe(false);
  const add = exe("spokes", ["users", "add", "--email", "root@example.com", "--fullname", "Root Admin", "--password-stdin", "--config", config], { stdin: "correct horse\n" });
  expect(add).toEqual({ code: 0, stdout: "User created!\n", stderr: "" });
  expect(existsSync(join(dir, "spokes.db"))).toBe(true);

  const ls = exe("spokes", ["users", "ls", "--config", config]);
  expect({ code: ls.code, stderr: ls.stderr }).toEqual({ code: 0, stderr: "" });
  const out = ls.stdout.trimEnd().split("\n");
  expect(out).toHaveLength(6);
  expect(out[1]).toMatch(/^\| ID +\| Email +\| Fullname +\| Origin +\| Created +\|$/);
  expect(out[3]).toMatch(/^\| [0-9a-f]{32} \| root@example\.com \| Root Admin \| Admin CLI \| [A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2} \|$/);
  expect(out[4]).toMatch(/^\+[-+]+\+$/);
  expect(out[5]).toBe("1 user");
});

test("spokes needs nothing from PATH at all", () => {
  const empty = join(dir, "empty-path");
  mkdirSync(empty);
  const ls = exe("spokes", ["users", "ls", "--json", "--config", config], { path: empty });
  expect(ls.code).toBe(0);
  expect((JSON.parse(ls.stdout) as { email: string }[]).map((u) => u.email)).toEqual(["root@example.com"]);
});

test("pktriot --help and version", () => {
  const help = exe("pktriot", ["--help"]);
  expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: "" });
  // Plain text: no colour escapes when the output is not a terminal.
  expect(help.stdout).not.toContain("\x1b[");
  expect(help.stdout).toMatch(/^USAGE pktriot /m);
  expect(help.stdout).toMatch(/^ +version +Print the version *$/m);
  expect(exe("pktriot", ["version"])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
});

test("the directory holds only the two executables and what the tests and spokes wrote", () => {
  const expected = ["config.json", "empty-path", "pktriot", "spokes", "spokes.db", "spokes.db-shm", "spokes.db-wal", "tmp"];
  expect(readdirSync(dir).filter((f) => !expected.includes(f))).toEqual([]);
});
