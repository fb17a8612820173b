// Upgrading a database of the previous release (migrations up to 0001) to this one on both
// engines: the pending cluster migration applies, existing rows keep their data, and the new
// columns and tables work.
import { expect, test } from "bun:test";
import { createClient } from "@libsql/client";
import { createHash } from "node:crypto";
import { join } from "node:path";
import postgres from "postgres";
import { openDatabase } from "../../../db/client.ts";
import { migrations as sqliteMigrations } from "../../../db/migrations/index.ts";
import { migrations as pgMigrations } from "../../../db/migrations/pg/index.ts";
import { createClusterStore } from "../../../db/queries/cluster.ts";
import { liveServerNodes } from "../../../db/queries/heartbeats.ts";
import { freshPostgresDatabase } from "../../db-fixtures.ts";
import { tempDir } from "../../helpers.ts";

const onPostgres = process.env.SPOKES_TEST_DB === "postgres";
const PREVIOUS = ["0000_init", "0001_service_last_check"];
const hash = (text: string) => createHash("sha256").update(text).digest("hex");
const statements = (text: string) => text.split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);
const NOW = Date.now();

/** A database as the previous release left it: its migrations applied and recorded, a node row. */
async function previousRelease(): Promise<{ path?: string; url?: string }> {
  if (onPostgres) {
    const url = await freshPostgresDatabase();
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe("CREATE SCHEMA drizzle");
      await sql.unsafe("CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)");
      for (const m of pgMigrations.filter((m) => PREVIOUS.includes(m.tag))) {
        for (const s of statements(m.sql)) await sql.unsafe(s);
        await sql`INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES (${hash(m.sql)}, ${m.when})`;
      }
      await sql`INSERT INTO server_heartbeats (node, started, last_seen) VALUES ('old-node', ${NOW}, ${NOW})`;
    } finally {
      await sql.end({ timeout: 1 });
    }
    return { url };
  }
  const path = join(tempDir(), "spokes.db");
  const c = createClient({ url: `file:${path}` });
  try {
    await c.execute("CREATE TABLE __drizzle_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, hash text NOT NULL, created_at numeric)");
    for (const m of sqliteMigrations.filter((m) => PREVIOUS.includes(m.tag))) {
      for (const s of statements(m.sql)) await c.execute(s);
      await c.execute({ sql: "INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)", args: [hash(m.sql), m.when] });
    }
    await c.execute({ sql: "INSERT INTO server_heartbeats (node, started, last_seen) VALUES ('old-node', ?, ?)", args: [NOW, NOW] });
  } finally {
    c.close();
  }
  return { path };
}

test("the cluster migration upgrades a database of the previous release, keeping its rows", async () => {
  expect(PREVIOUS.every((tag) => sqliteMigrations.some((m) => m.tag === tag) && pgMigrations.some((m) => m.tag === tag))).toBe(true);
  const target = await previousRelease();
  const opened = await openDatabase(target);
  try {
    // The old row is still there (default advertise: not a cluster peer).
    expect(await liveServerNodes(opened.db)).toEqual(new Set(["old-node"]));
    const store = createClusterStore(opened.db);
    expect(await store.liveNodes(60_000)).toEqual([]);
    await store.heartbeat({ nodeId: "old-node", advertise: "a:443", fingerprint: "ab".repeat(32), startedAt: NOW });
    expect((await store.liveNodes(60_000)).map((n) => n.advertise)).toEqual(["a:443"]);
    await store.saveLocation({ tunnelId: "a".repeat(32), nodeId: "old-node", epoch: "e", userId: null, hostname: "", https: [], ports: [] });
    expect((await store.locationStamps()).length).toBe(1);
  } finally {
    opened.close();
  }
  // Opened again: nothing left to apply, the data still there.
  const again = await openDatabase(target);
  try {
    expect((await createClusterStore(again.db).locationStamps()).length).toBe(1);
  } finally {
    again.close();
  }
}, 60_000);
