// Copies of the SQLite database: taken before migrations change an existing file and by
// `spokes backup`. `VACUUM INTO` writes a consistent snapshot through an ordinary read
// transaction, so it works while the server writes (WAL) and needs no file-level locking.
import type { Client } from "@libsql/client";
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { UserError, errorMessage } from "../lib/errors.ts";

/** Automatic and on-demand copies kept in `dataPath/backups/`; older ones are removed. */
export const BACKUPS_KEPT = 5;

const BACKUP_FILE = /^spokes-(.+)-(\d{8}T\d{6}\.\d{3}Z)\.db$/;

/** `spokes-<version>-<UTC time>.db`: the time part sorts as text, to the millisecond. */
export function backupFileName(version: string, at: Date = new Date()): string {
  const time = at.toISOString().replace(/[-:]/g, "");
  return `spokes-${version.replace(/[^\w.+]/g, "_")}-${time}.db`;
}

/**
 * Writes a snapshot of the database `client` has open to `out` (which must not exist).
 * The copy goes to `out.partial` first and is renamed when complete, so a crash never
 * leaves a truncated file under a backup's name. Backups hold password hashes and tokens:
 * owner-only permissions.
 */
export async function vacuumInto(client: Client, out: string): Promise<void> {
  if (existsSync(out)) throw new UserError(`${out} already exists: choose another file or remove it`);
  const partial = `${out}.partial`;
  rmSync(partial, { force: true });
  try {
    await client.execute({ sql: "VACUUM INTO ?", args: [partial] });
    chmodSync(partial, 0o600);
    renameSync(partial, out);
  } catch (err) {
    rmSync(partial, { force: true });
    throw new UserError(`cannot write the backup ${out}: ${errorMessage(err)}`);
  }
}

/** A new copy in `dir` (created owner-only) named for `version` and now; the older ones beyond BACKUPS_KEPT go. */
export async function backupToDirectory(client: Client, dir: string, version: string): Promise<string> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new UserError(`cannot create the backup directory ${dir}: ${errorMessage(err)}`);
  }
  const out = join(dir, backupFileName(version));
  await vacuumInto(client, out);
  pruneBackups(dir, BACKUPS_KEPT);
  return out;
}

/** Removes all but the `keep` newest `spokes-*.db` backups in `dir` (other files are left alone). */
export function pruneBackups(dir: string, keep: number): string[] {
  const backups = readdirSync(dir)
    .map((name) => ({ name, time: BACKUP_FILE.exec(name)?.[2] }))
    .filter((b): b is { name: string; time: string } => Boolean(b.time))
    .sort((a, b) => (a.time === b.time ? a.name.localeCompare(b.name) : a.time.localeCompare(b.time)));
  const removed = backups.slice(0, Math.max(0, backups.length - keep)).map((b) => b.name);
  for (const name of removed) rmSync(join(dir, name), { force: true });
  return removed;
}
