// Opens the database (embedded SQLite file or libSQL server) and applies the
// migrations embedded in the executable.
import { createClient, type Client } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UserError, errorMessage } from "../lib/errors.ts";
import { migrations } from "./migrations/index.ts";
import * as schema from "./schema.ts";

export type Database = LibSQLDatabase<typeof schema>;

export interface DatabaseOptions {
  /** Path of the embedded SQLite file, or ":memory:". */
  path?: string;
  /** A libSQL server URL (libsql://, http://, https://, ws://); wins over `path`. */
  url?: string;
  authToken?: string;
}

export interface OpenDatabase {
  db: Database;
  client: Client;
  close(): void;
}

const BUSY_TIMEOUT_MS = 5000;

export async function openDatabase(opts: DatabaseOptions): Promise<OpenDatabase> {
  const url = opts.url ? opts.url : fileUrl(opts.path ?? ":memory:");
  let client: Client;
  try {
    client = createClient({ url, authToken: opts.authToken || undefined, timeout: BUSY_TIMEOUT_MS, concurrency: 4 } as Parameters<typeof createClient>[0]);
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
  const db = drizzle(client, { schema });
  return { db, client, close: () => client.close() };
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
