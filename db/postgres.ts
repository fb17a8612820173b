// Opens a PostgreSQL database (cluster mode, `database.url` postgres://…) through
// postgres.js, a pure-JS driver that works inside `bun build --compile` executables, and
// applies the embedded PostgreSQL migrations.
import { drizzle } from "drizzle-orm/postgres-js";
import { createHash } from "node:crypto";
import postgres from "postgres";
import { errorMessage } from "../lib/errors.ts";
import { migrations } from "./migrations/pg/index.ts";
import { engineTables } from "./schema.ts";

/** Connections per process: the server's queries are short; the CLI needs one or two. */
const POOL_SIZE = 8;
const CONNECT_TIMEOUT_S = 10;
/** pg_advisory_xact_lock key serialising migrations when several nodes start at once. */
const MIGRATION_LOCK = 0x5370_6b73;

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export async function openPostgres(url: string): Promise<{ db: unknown; close(): Promise<void> }> {
  const sql = postgres(url, { max: POOL_SIZE, connect_timeout: CONNECT_TIMEOUT_S, onnotice: () => {} });
  try {
    await applyMigrations(sql);
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw err;
  }
  const db = drizzle(sql, { schema: engineTables("postgres") });
  return { db, close: () => sql.end({ timeout: 5 }) };
}

/**
 * Applies embedded migrations in one transaction, recorded like drizzle-kit's own migrator
 * does (drizzle.__drizzle_migrations). The advisory lock makes a second node that starts
 * at the same moment wait, then find them applied.
 */
async function applyMigrations(sql: postgres.Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx.unsafe("CREATE SCHEMA IF NOT EXISTS drizzle");
    await tx.unsafe("CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)");
    const applied = await tx<{ hash: string }[]>`SELECT hash FROM drizzle.__drizzle_migrations`;
    const done = new Set(applied.map((r) => r.hash));
    for (const m of migrations) {
      const hash = createHash("sha256").update(m.sql).digest("hex");
      if (done.has(hash)) continue;
      try {
        for (const stmt of m.sql.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean)) await tx.unsafe(stmt);
      } catch (err) {
        throw new Error(`migration ${m.tag} failed: ${errorMessage(err)}`);
      }
      await tx`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (${hash}, ${m.when})`;
    }
  });
}
