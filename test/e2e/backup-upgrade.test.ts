// Safe upgrades through the real dist/spokes: a database with a pending migration is
// copied to dataPath/backups before it is migrated (the newest five copies kept), a failing
// migration stops the start with one line and leaves the file and the copy usable, and
// `spokes backup` copies a database the running server is writing. Pending and failing
// migrations come from the SPOKES_TEST_MIGRATION hook; the copies are opened with libsql.
import { afterAll, expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { ROOT, SPOKES_BIN, run, tempDir, writeServerConfig } from "../helpers.ts";
import { spawnLogged, startServer, stopAll, type TestServer } from "./_tunnel-harness.ts";

afterAll(stopAll);

const VERSION = pkg.version.replace(/\./g, "\\.");
const BACKUP_NAME = new RegExp(`^spokes-${VERSION}-\\d{8}T\\d{6}\\.\\d{3}Z\\.db$`);

/** Reads a SQLite file the way an operator restoring it would need to: integrity, tables, tokens. */
async function inspect(file: string): Promise<{ integrity: string; tables: string[]; tokens: string[] }> {
  const db = createClient({ url: `file:${file}` });
  try {
    const integrity = String((await db.execute("PRAGMA integrity_check")).rows[0]![0]);
    const tables = (await db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).rows.map((r) => String(r[0]));
    const tokens = (await db.execute("SELECT value FROM apikeys ORDER BY value")).rows.map((r) => String(r[0]));
    return { integrity, tables, tokens };
  } finally {
    db.close();
  }
}

const backupsIn = (dataPath: string) => (existsSync(join(dataPath, "backups")) ? readdirSync(join(dataPath, "backups")).sort() : []);

async function stop(server: TestServer): Promise<void> {
  server.proc.kill("SIGTERM");
  expect(await server.proc.exited).toBe(0);
}

test("a pending migration on an existing database is preceded by a copy in dataPath/backups", async () => {
  const server = await startServer();
  const token = server.createToken().key;
  expect(backupsIn(server.dir)).toEqual([]); // a new database has nothing to copy
  await stop(server);

  const upgrade = { SPOKES_TEST_MIGRATION: "CREATE TABLE upgrade_marker (x integer)" };
  const { proc, log } = spawnLogged([SPOKES_BIN, "serve", "--config", server.configPath], upgrade);
  await log.waitFor("serving spokes.test", { proc });
  const [copy, ...more] = backupsIn(server.dir);
  expect(more).toEqual([]);
  expect(copy).toMatch(BACKUP_NAME);
  // The copy is the database as it was before the migration: the data, not the new table.
  const before = await inspect(join(server.dir, "backups", copy!));
  expect(before.integrity).toBe("ok");
  expect(before.tokens).toEqual([token]);
  expect(before.tables).not.toContain("upgrade_marker");
  expect(before.tables).toContain("tunnels");
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
  expect((await inspect(join(server.dir, "spokes.db"))).tables).toContain("upgrade_marker");

  // Nothing pending on the next start: no new copy.
  const again = spawnLogged([SPOKES_BIN, "serve", "--config", server.configPath], upgrade);
  await again.log.waitFor("serving spokes.test", { proc: again.proc });
  expect(backupsIn(server.dir)).toEqual([copy!]);
  again.proc.kill("SIGTERM");
  await again.proc.exited;
}, 60_000);

test("a database of the previous release (before migration 0001) is copied, then upgraded", async () => {
  const dir = tempDir();
  const config = writeServerConfig(dir);
  const token = run(SPOKES_BIN, ["token", "create", "--config", config]).stdout.trim().split("\n").at(-1)!;
  // Undo 0001 by hand, as the previous release left the file: its columns and its record.
  const sql = readFileSync(join(ROOT, "db", "migrations", "0001_service_last_check.sql"), "utf8");
  const db = createClient({ url: `file:${join(dir, "spokes.db")}` });
  await db.batch(["ALTER TABLE ports DROP COLUMN last_check", "ALTER TABLE http_services DROP COLUMN last_check", { sql: "DELETE FROM __drizzle_migrations WHERE hash = ?", args: [createHash("sha256").update(sql).digest("hex")] }]);
  db.close();
  const columns = async (file: string) => {
    const c = createClient({ url: `file:${file}` });
    try {
      return (await c.execute("SELECT name FROM pragma_table_info('ports')")).rows.map((r) => String(r[0]));
    } finally {
      c.close();
    }
  };
  expect(await columns(join(dir, "spokes.db"))).not.toContain("last_check");

  const ls = run(SPOKES_BIN, ["token", "ls", "--json", "--config", config]);
  expect(ls.code).toBe(0);
  expect(ls.stderr).toBe("");
  expect((JSON.parse(ls.stdout) as { value: string }[]).map((t) => t.value)).toEqual([token]);
  expect(await columns(join(dir, "spokes.db"))).toContain("last_check");
  const [copy, ...more] = backupsIn(dir);
  expect(more).toEqual([]);
  expect(await columns(join(dir, "backups", copy!))).not.toContain("last_check");
  expect((await inspect(join(dir, "backups", copy!))).tokens).toEqual([token]);
}, 60_000);

test("every command that migrates copies first, and the five newest copies are kept", () => {
  const dir = tempDir();
  const config = writeServerConfig(dir);
  expect(run(SPOKES_BIN, ["token", "create", "--config", config]).code).toBe(0);
  const made: string[] = [];
  for (let i = 1; i <= 7; i++) {
    const r = run(SPOKES_BIN, ["token", "ls", "--config", config], { env: { SPOKES_TEST_MIGRATION: `CREATE TABLE upgrade_${i} (x integer)` } });
    expect(r.code).toBe(0);
    const now = backupsIn(dir);
    made.push(now.find((n) => !made.includes(n))!);
    expect(now.length).toBe(Math.min(i, 5));
  }
  expect(made.every((n) => BACKUP_NAME.test(n))).toBe(true);
  expect(backupsIn(dir)).toEqual(made.slice(-5));
}, 60_000);

test("a failing migration stops the start with one line; the file and its copy stay usable", async () => {
  const dir = tempDir();
  const config = writeServerConfig(dir);
  const token = run(SPOKES_BIN, ["token", "create", "--config", config]).stdout.trim().split("\n").at(-1)!;
  // The first statement succeeds, the second fails: the transaction must undo the first.
  const broken = "CREATE TABLE half_done (x integer);\n--> statement-breakpoint\nSELECT * FROM no_such_table";
  const r = run(SPOKES_BIN, ["serve", "--config", config], { env: { SPOKES_TEST_MIGRATION: broken } });
  expect(r.code).toBe(1);
  const lines = (r.stdout + r.stderr).trim().split("\n");
  expect(lines).toHaveLength(1);
  const [copy] = backupsIn(dir);
  expect(copy).toMatch(BACKUP_NAME);
  expect(lines[0]).toBe(
    `error: cannot open database file:${join(dir, "spokes.db")}: migration 9999_test_hook failed, nothing was changed: SQLITE_ERROR: no such table: no_such_table; a copy taken before it is ${join(dir, "backups", copy!)}`,
  );

  for (const file of [join(dir, "spokes.db"), join(dir, "backups", copy!)]) {
    const seen = await inspect(file);
    expect(seen.integrity).toBe("ok");
    expect(seen.tokens).toEqual([token]);
    expect(seen.tables).not.toContain("half_done");
  }
  // The same executable without the broken migration still works on the untouched file.
  const ls = run(SPOKES_BIN, ["token", "ls", "--json", "--config", config]);
  expect(ls.code).toBe(0);
  expect((JSON.parse(ls.stdout) as { value: string }[]).map((t) => t.value)).toEqual([token]);
}, 60_000);

test("no copy, no migration: when the backup cannot be written the start fails and the file is left as it was", async () => {
  const dir = tempDir();
  const config = writeServerConfig(dir);
  expect(run(SPOKES_BIN, ["token", "create", "--config", config]).code).toBe(0);
  writeFileSync(join(dir, "backups"), "a file where the backup directory should be");
  const r = run(SPOKES_BIN, ["serve", "--config", config], { env: { SPOKES_TEST_MIGRATION: "CREATE TABLE not_without_a_copy (x integer)" } });
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(new RegExp(`^error: cannot open database file:${join(dir, "spokes.db")}: cannot create the backup directory ${join(dir, "backups")}: .+\n$`));
  expect((await inspect(join(dir, "spokes.db"))).tables).not.toContain("not_without_a_copy");
}, 60_000);

test("spokes backup copies the database while the server writes to it", async () => {
  const server = await startServer();
  const tokens = Array.from({ length: 5 }, () => server.cli(["token", "create"]).stdout.trim().split("\n").at(-1)!).sort();
  // Writers keep going during the copy: the copy is one consistent snapshot.
  const writing = Array.from({ length: 3 }, () => Bun.spawn([SPOKES_BIN, "token", "create", "--config", server.configPath], { stdout: "ignore", stderr: "ignore" }));
  const out = join(tempDir(), "copy.db");
  const r = run(SPOKES_BIN, ["backup", "--config", server.configPath, "--out", out]);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe(out);
  await Promise.all(writing.map((p) => p.exited));
  const copy = await inspect(out);
  expect(copy.integrity).toBe("ok");
  expect(copy.tokens.length).toBeGreaterThanOrEqual(5);
  expect(copy.tokens.length).toBeLessThanOrEqual(8);
  for (const t of tokens) expect(copy.tokens).toContain(t);
  expect(server.proc.exitCode).toBeNull();

  // An existing file is never overwritten.
  const again = run(SPOKES_BIN, ["backup", "--config", server.configPath, "--out", out]);
  expect(again.code).toBe(1);
  expect(again.stderr.trim()).toBe(`error: ${out} already exists: choose another file or remove it`);

  // Without --out: into dataPath/backups, next to the automatic copies.
  const auto = run(SPOKES_BIN, ["backup", "--config", server.configPath]);
  expect(auto.code).toBe(0);
  expect(auto.stdout.trim()).toMatch(new RegExp(`^${join(server.dir, "backups")}/spokes-${VERSION}-\\d{8}T\\d{6}\\.\\d{3}Z\\.db$`));
  expect((await inspect(auto.stdout.trim())).tokens.length).toBe(8);
}, 60_000);

test("spokes backup on PostgreSQL points to pg_dump; a missing SQLite file is not created", () => {
  const dir = tempDir();
  const pg = writeServerConfig(dir, { database: { url: "postgres://spokes@127.0.0.1:1/spokes" } });
  const r = run(SPOKES_BIN, ["backup", "--config", pg, "--out", join(dir, "x.db")]);
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe('error: the database is PostgreSQL: back it up with pg_dump (e.g. pg_dump --format=custom --file=spokes.dump "$URL")');

  const empty = tempDir();
  const none = writeServerConfig(empty);
  const missing = join(empty, "spokes.db");
  const m = run(SPOKES_BIN, ["backup", "--config", none, "--out", join(dir, "y.db")]);
  expect(m.code).toBe(1);
  expect(m.stderr.trim()).toBe(`error: no database at ${missing}`);
  expect(existsSync(missing)).toBe(false);
}, 60_000);
