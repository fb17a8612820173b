// Opens the database (embedded SQLite file, libSQL server, or PostgreSQL for cluster mode)
// and applies the migrations embedded in the executable.
import { createClient, type Client } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UserError, errorMessage } from "../lib/errors.ts";
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
    const opened = engine === "postgres" ? await openPostgresDatabase(url) : await openSqlite(url, opts.authToken);
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

async function openSqlite(url: string, authToken: string | undefined): Promise<{ db: Database; close(): void }> {
  let client: Client;
  try {
    client = createClient({ url, authToken: authToken || undefined, timeout: BUSY_TIMEOUT_MS, concurrency: 4 } as Parameters<typeof createClient>[0]);
  } catch (err) {
    throw new UserError(`cannot open database ${redact(url)}: ${explainOpenError(err)}`);
  }
  try {
    if (url.startsWith("file:")) {
      // WAL lets the admin CLI write while the server runs; the busy timeout makes a
      // writer wait for the other process's lock instead of failing at once.
      await client.execute("PRAGMA journal_mode = WAL");
      await client.execute(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      await client.execute("PRAGMA foreign_keys = ON");
    }
    await applyMigrations(client);
  } catch (err) {
    client.close();
    if (err instanceof UserError) throw err;
    throw new UserError(`cannot open database ${redact(url)}: ${explainOpenError(err)}`);
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
 * Applies embedded migrations in order, each in its own transaction, recording them in
 * drizzle's own `__drizzle_migrations` table so drizzle-kit tooling agrees with us.
 */
async function applyMigrations(client: Client): Promise<void> {
  await client.execute(
    "CREATE TABLE IF NOT EXISTS __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)",
  );
  const applied = await client.execute("SELECT hash FROM __drizzle_migrations");
  const done = new Set(applied.rows.map((r) => String(r.hash)));
  for (const m of migrations) {
    const hash = createHash("sha256").update(m.sql).digest("hex");
    if (done.has(hash)) continue;
    const statements = m.sql.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);
    const tx = await client.transaction("write");
    try {
      for (const stmt of statements) await tx.execute(stmt);
      await tx.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)", args: [hash, m.when] });
      await tx.commit();
    } catch (err) {
      await tx.rollback().catch(() => {});
      throw new Error(`migration ${m.tag} failed: ${errorMessage(err)}`);
    }
  }
}
