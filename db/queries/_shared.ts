// Pieces every query module uses: the executor type (a database or an open transaction),
// id checks, and constant-time secret comparison.
import { createHash, timingSafeEqual } from "node:crypto";
import { UserError } from "../../lib/errors.ts";
import type { Database } from "../client.ts";
import { isId } from "../ids.ts";
import { TUNNEL_STATE } from "../schema.ts";

/** An open drizzle transaction on our database. */
export type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/**
 * Queries accept either, so a caller can group several of them in one transaction.
 * Inside a transaction only the transaction may be used: an in-memory database has a
 * single connection, which the transaction holds.
 */
export type Db = Database | Transaction;

/** Rejects anything that is not 32 lowercase hex characters, naming what it was meant to be. */
export function assertId(value: string, what = "id"): string {
  if (!isId(value)) throw new UserError(`malformed ${what} ${JSON.stringify(value)} (expected 32 lowercase hex characters)`);
  return value;
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/**
 * Constant-time equality of two secrets. Comparing SHA-256 digests gives both sides the
 * same length (timingSafeEqual requires it) without leaking the secret's length.
 */
export function secretsEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}

/** Active tunnel states (SPEC 2.3: "active" means 1–3). */
export const ACTIVE_TUNNEL_STATES = [TUNNEL_STATE.init, TUNNEL_STATE.online, TUNNEL_STATE.offline];
/** Visible tunnel states (SPEC 2.3: "visible" means 1–4). */
export const VISIBLE_TUNNEL_STATES = [...ACTIVE_TUNNEL_STATES, TUNNEL_STATE.shutdown];

/** A unique-index violation, whichever engine raised it (drizzle wraps the driver error in `cause`). */
export function isUniqueViolation(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    const text = `${e.message} ${String((e as { code?: unknown }).code ?? "")}`;
    if (/UNIQUE constraint failed|duplicate key|SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)/i.test(text)) return true;
  }
  return false;
}

/** What a write without `returning()` resolves to: libSQL's ResultSet or postgres.js's RowList. */
export type WriteResult = { rowsAffected: number } | { count: number };

/** Rows a write changed, whichever engine ran it. */
export function affectedRows(res: WriteResult): number {
  return "rowsAffected" in res ? res.rowsAffected : res.count;
}

/** The fields every token object has, auth and registration alike, in the JSON key order. */
export interface TokenFields {
  id: string;
  created: Date;
  modified: Date;
  active: boolean;
  description: string;
  value: string;
}
