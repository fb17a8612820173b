// Opens the database (embedded SQLite file, libSQL server, or PostgreSQL for cluster mode)
// and applies the migrations embedded in the executable.
import { createClient, type Client } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UserError, errorMessage } from "../lib/errors.ts";
import { VERSION } from "../lib/version.ts";
import { backupToDirectory, vacuumInto } from "./backup.ts";
import { migrations } from "./migrations/index.ts";
import { isPostgresUrl, openPostgres } from "./postgres.ts";
import { engineTables, useEngineTables, type Engine } from "./schema.ts";
import type * as sqliteSchema from "./schema/sqlite.ts";

/**
 * The database every query takes. Typed as SQLite's: a PostgreSQL database is the same
 * drizzle query builder over tables with identical row types (db/schema.ts).
 */
export type Database = LibSQLDatabase<typeof sqliteSchema>;

export interface DatabaseOptions {
  /** Path of the embedded SQLite file, or ":memory:". */
  path?: string;
  /** A libSQL server URL (libsql://, http://, https://, ws://) or postgres://; wins over `path`. */
  url?: string;
  authToken?: string;
  /**
   * Where a copy of an existing SQLite file goes before pending migrations change it
   * (`dataPath/backups`). Without it, migrations run without a copy (tests, `:memory:`).
   */
  backupDir?: string;
}

export interface OpenDatabase {
  db: Database;
  engine: Engine;
  close(): void;
}

const BUSY_TIMEOUT_MS = 5000;

export async function openDatabase(opts: DatabaseOptions): Promise<OpenDatabase> {
  const url = opts.url ? opts.url : fileUrl(opts.path ?? ":memory:");
  const engine: Engine = isPostgresUrl(url) ? "postgres" : "sqlite";
  const release = claimEngine(engine);
  try {
    const opened = engine === "postgres" ? await openPostgresDatabase(url) : await openSqlite(url, opts.authToken, opts.backupDir);
    let closed = false;
    return {
      db: opened.db,
      engine,
      close: () => {
        if (closed) return;
        closed = true;
        release();
        opened.close();
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

let activeEngine: Engine = "sqlite";
let openCount = 0;

/**
 * The queries' tables point at one engine's (db/schema.ts), so a process may hold
 * databases of one engine at a time; returns the release for the handle being opened.
 */
function claimEngine(engine: Engine): () => void {
  if (openCount > 0 && engine !== activeEngine) {
    throw new Error(`a ${activeEngine} database is open in this process; close it before opening a ${engine} one`);
  }
  activeEngine = engine;
  useEngineTables(engine);
  openCount++;
  return () => void openCount--;
}

async function openPostgresDatabase(url: string): Promise<{ db: Database; close(): void }> {
  try {
    const { db, close } = await openPostgres(url);
    return { db: db as Database, close: () => void close().catch(() => {}) };
  } catch (err) {
    throw new UserError(`cannot open database ${redact(url)}: ${errorMessage(err)}`);
  }
}

function createSqliteClient(url: string, authToken: string | undefined): Client {
  try {
    return createClient({ url, authToken: authToken || undefined, timeout: BUSY_TIMEOUT_MS, concurrency: 4 } as Parameters<typeof createClient>[0]);
  } catch (err) {
    throw new UserError(`cannot open database ${redact(url)}: ${explainOpenError(err)}`);
  }
}

async function openSqlite(url: string, authToken: string | undefined, backupDir: string | undefined): Promise<{ db: Database; close(): void }> {
  const client = createSqliteClient(url, authToken);
  try {
    const isFile = url.startsWith("file:") && url !== "file::memory:";
    if (url.startsWith("file:")) {
      // WAL lets the admin CLI write while the server runs; the busy timeout makes a
      // writer wait for the other process's lock instead of failing at once.
      await client.execute("PRAGMA journal_mode = WAL");
      // In WAL mode NORMAL syncs at checkpoints instead of at every commit: a commit
      // survives a crash of the process (kill -9) and the file stays consistent on power
      // loss, where only the last commits may roll back. FULL cost ~5 ms per write here,
      // which serialised a fleet reconnecting at once behind the disk.
      await client.execute("PRAGMA synchronous = NORMAL");
      await client.execute(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      await client.execute("PRAGMA foreign_keys = ON");
    }
    await applyMigrations(client, isFile ? backupDir : undefined);
  } catch (err) {
    client.close();
    throw new UserError(`cannot open database ${redact(url)}: ${err instanceof UserError ? err.message : explainOpenError(err)}`);
  }
  const db = drizzle(client, { schema: engineTables("sqlite") });
  return { db, close: () => client.close() };
}

function fileUrl(path: string): string {
  if (path === ":memory:") return "file::memory:";
  const abs = resolve(path);
  try {
    mkdirSync(dirname(abs), { recursive: true });
  } catch (err) {
    throw new UserError(`cannot create the database directory ${dirname(abs)}: ${errorMessage(err)}`);
  }
  return `file:${abs}`;
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

function explainOpenError(err: unknown): string {
  const msg = errorMessage(err);
  if (/dlopen|ERR_DLOPEN_FAILED/i.test(msg)) {
    return `${msg} (the embedded SQLite addon is unpacked into TMPDIR, which must be writable and allow executables)`;
  }
  return msg;
}

/**
 * Copies the SQLite file at `path` to `out` (or, without `out`, into `backupDir` with the
 * rotation of automatic backups) while other processes may be using it. Opens the file
 * without migrating it: a backup must be of the data as it is.
 */
export async function backupSqliteFile(path: string, target: { out: string } | { backupDir: string }): Promise<string> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UserError(`no database at ${abs}`);
  const client = createSqliteClient(`file:${abs}`, undefined);
  try {
    await client.execute(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if ("out" in target) {
      await vacuumInto(client, resolve(target.out));
      return resolve(target.out);
    }
    return await backupToDirectory(client, target.backupDir, VERSION);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot back up ${abs}: ${explainOpenError(err)}`);
  } finally {
    client.close();
  }
}

type Migration = (typeof migrations)[number];

/**
 * Test hook: SPOKES_TEST_MIGRATION=<sql> adds one more migration after the embedded ones,
 * so the e2e tests can upgrade a database, and make an upgrade fail, through the real
 * executable. Each distinct SQL text is a distinct migration (recorded by its hash).
 */
function migrationsToApply(): Migration[] {
  const extra = process.env.SPOKES_TEST_MIGRATION;
  return extra ? [...migrations, { tag: "9999_test_hook", when: 0, sql: extra }] : migrations;
}

const migrationHash = (m: Migration) => createHash("sha256").update(m.sql).digest("hex");

async function appliedHashes(client: Pick<Client, "execute">): Promise<Set<string>> {
  const applied = await client.execute("SELECT hash FROM __drizzle_migrations");
  return new Set(applied.rows.map((r) => String(r.hash)));
}

/**
 * Applies the pending embedded migrations in one transaction, recorded in drizzle's own
 * `__drizzle_migrations` table so drizzle-kit tooling agrees with us. When the file
 * already holds data (some migration applied before), it is copied to `backupDir` first.
 * A failing migration rolls everything back: the file stays as the previous version left
 * it, and the error says where the copy is.
 */
async function applyMigrations(client: Client, backupDir: string | undefined): Promise<void> {
  await client.execute(
    "CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)",
  );
  const all = migrationsToApply();
  const before = await appliedHashes(client);
  if (all.every((m) => before.has(migrationHash(m)))) return;
  const backup = backupDir && before.size > 0 ? await backupToDirectory(client, backupDir, VERSION) : undefined;
  const tx = await client.transaction("write");
  let current: Migration | undefined;
  try {
    // Read again under the write lock: another process may have migrated meanwhile.
    const done = await appliedHashes(tx);
    for (const m of all) {
      const hash = migrationHash(m);
      if (done.has(hash)) continue;
      current = m;
      for (const stmt of m.sql.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean)) await tx.execute(stmt);
      await tx.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)", args: [hash, m.when] });
    }
    await tx.commit();
  } catch (err) {
    await tx.rollback().catch(() => {});
    const copy = backup ? `; a copy taken before it is ${backup}` : "";
    throw new UserError(`migration ${current?.tag ?? "(none)"} failed, nothing was changed: ${errorMessage(err)}${copy}`);
  }
}
