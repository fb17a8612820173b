// Admin API keys (SPEC 2.3 "Admin JSON API"). Only a SHA-256 of each key is stored, so a
// copy of the database does not hand out API access; the clear value is shown once.
import { and, asc, eq } from "drizzle-orm";
import { timingSafeEqual } from "node:crypto";
import { UserError } from "../../lib/errors.ts";
import { newId, newTokenValue } from "../ids.ts";
import { adminApiKeys } from "../schema.ts";
import { assertId, sha256Hex, type Db } from "./_shared.ts";

/** How many leading characters of a key listings show to tell keys apart. */
export const API_KEY_PREFIX_LENGTH = 8;

/** A key as listings show it: no hash, no value. */
export interface AdminApiKeyInfo {
  id: string;
  created: Date;
  description: string;
  prefix: string;
  active: boolean;
  lastUsed: Date | null;
}

function toInfo(r: typeof adminApiKeys.$inferSelect): AdminApiKeyInfo {
  return { id: r.id, created: r.created, description: r.description, prefix: r.prefix, active: r.active, lastUsed: r.lastUsed };
}

/** Returns the new key's clear `value`, which is not stored and cannot be shown again. */
export async function createAdminApiKey(db: Db, opts: { description?: string } = {}): Promise<{ key: AdminApiKeyInfo; value: string }> {
  const value = newTokenValue();
  const [row] = await db
    .insert(adminApiKeys)
    .values({ id: newId(), keyHash: sha256Hex(value), prefix: value.slice(0, API_KEY_PREFIX_LENGTH), description: opts.description?.trim() ?? "", created: new Date() })
    .returning();
  return { key: toInfo(row!), value };
}

/** Oldest first; revoked keys included (they show as inactive). */
export async function listAdminApiKeys(db: Db): Promise<AdminApiKeyInfo[]> {
  const rows = await db.select().from(adminApiKeys).orderBy(asc(adminApiKeys.created), asc(adminApiKeys.id));
  return rows.map(toInfo);
}

/** Revoked keys stay listed as inactive, so an audit can still tell what existed. */
export async function revokeAdminApiKey(db: Db, id: string): Promise<AdminApiKeyInfo> {
  const [row] = await db.update(adminApiKeys).set({ active: false }).where(eq(adminApiKeys.id, assertId(id, "API key id"))).returning();
  if (!row) throw new UserError(`no API key with id ${id}`);
  return toInfo(row);
}

/** The active key with this clear value (and its last use recorded), or undefined. */
export async function verifyAdminApiKey(db: Db, value: string, now = new Date()): Promise<AdminApiKeyInfo | undefined> {
  if (!value) return undefined;
  const hash = sha256Hex(value);
  const [row] = await db
    .select()
    .from(adminApiKeys)
    .where(and(eq(adminApiKeys.keyHash, hash), eq(adminApiKeys.active, true)))
    .limit(1);
  // Both are 64-hex SHA-256 digests, so the lengths match as timingSafeEqual requires.
  if (!row || !timingSafeEqual(Buffer.from(row.keyHash), Buffer.from(hash))) return undefined;
  await db.update(adminApiKeys).set({ lastUsed: now }).where(eq(adminApiKeys.id, row.id));
  return { ...toInfo(row), lastUsed: now };
}
