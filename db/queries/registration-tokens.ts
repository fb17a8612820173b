// Registration tokens: a client presents one to obtain an auth token (SPEC 2.3
// "Registration"); they never open a tunnel themselves.
import { and, asc, eq } from "drizzle-orm";
import { UserError } from "../../lib/errors.ts";
import { newId, newTokenValue } from "../ids.ts";
import { registrationTokens } from "../schema.ts";
import { affectedRows, assertId, secretsEqual, type Db, type TokenFields } from "./_shared.ts";

/** The Admin API's registration token object, keys in its order. */
export type RegistrationToken = TokenFields;

/** A function, not a constant: the tables are the open engine's (db/schema.ts). */
const columns = () => ({
  id: registrationTokens.id,
  created: registrationTokens.created,
  modified: registrationTokens.modified,
  active: registrationTokens.active,
  description: registrationTokens.description,
  value: registrationTokens.value,
});

export async function createRegistrationToken(db: Db, opts: { description?: string; active?: boolean } = {}): Promise<RegistrationToken> {
  const now = new Date();
  const [row] = await db
    .insert(registrationTokens)
    .values({ id: newId(), value: newTokenValue(), description: opts.description?.trim() ?? "", active: opts.active ?? true, created: now, modified: now })
    .returning(columns());
  return row!;
}

/** Oldest first, inactive ones included (listings show an Active column). */
export async function listRegistrationTokens(db: Db, opts: { activeOnly?: boolean } = {}): Promise<RegistrationToken[]> {
  const q = db.select(columns()).from(registrationTokens);
  return (opts.activeOnly ? q.where(eq(registrationTokens.active, true)) : q).orderBy(asc(registrationTokens.created), asc(registrationTokens.id));
}

export async function getRegistrationToken(db: Db, id: string): Promise<RegistrationToken> {
  const [row] = await db.select(columns()).from(registrationTokens).where(eq(registrationTokens.id, assertId(id, "token id"))).limit(1);
  if (!row) throw new UserError(`no registration token with id ${id}`);
  return row;
}

/** The Admin API's `edit`: either field may be left out. */
export async function updateRegistrationToken(db: Db, id: string, change: { description?: string; active?: boolean }): Promise<RegistrationToken> {
  const [row] = await db
    .update(registrationTokens)
    .set({ ...change, ...(change.description !== undefined && { description: change.description.trim() }), modified: new Date() })
    .where(eq(registrationTokens.id, assertId(id, "token id")))
    .returning(columns());
  if (!row) throw new UserError(`no registration token with id ${id}`);
  return row;
}

export async function deactivateRegistrationToken(db: Db, id: string): Promise<RegistrationToken> {
  return updateRegistrationToken(db, id, { active: false });
}

/** Deactivates every active registration token; returns how many changed. */
export async function deactivateRegistrationTokens(db: Db): Promise<number> {
  const res = await db.update(registrationTokens).set({ active: false, modified: new Date() }).where(eq(registrationTokens.active, true));
  return affectedRows(res);
}

/** The Admin API's `delete` (the CLI only deactivates, keeping the row). */
export async function deleteRegistrationToken(db: Db, id: string): Promise<void> {
  const res = await db.delete(registrationTokens).where(eq(registrationTokens.id, assertId(id, "token id")));
  if (!affectedRows(res)) throw new UserError(`no registration token with id ${id}`);
}

/** The active token with this value, for a registration request; undefined otherwise. */
export async function findActiveRegistrationToken(db: Db, value: string): Promise<RegistrationToken | undefined> {
  if (!value) return undefined;
  const [row] = await db
    .select(columns())
    .from(registrationTokens)
    .where(and(eq(registrationTokens.value, value), eq(registrationTokens.active, true)))
    .limit(1);
  // The index lookup finds the candidate; the final say is a constant-time comparison.
  return row && secretsEqual(row.value, value) ? row : undefined;
}
