// Dashboard and Admin API sessions (table sessions). The cookie carries a random token;
// only its SHA-256 is stored, so a copy of the database cannot be replayed as a login.
import { and, eq, lt } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { newId } from "../ids.ts";
import { sessions } from "../schema.ts";
import { affectedRows, sha256Hex, type Db } from "./_shared.ts";

export type SessionRow = typeof sessions.$inferSelect;
export type SessionKind = SessionRow["kind"];

export interface NewSession {
  kind: SessionKind;
  userId?: string | null;
  apiKeyId?: string | null;
  /** Dashboard logins of users with 2FA wait in this state until the passcode is given. */
  pending2fa?: boolean;
  ttlMs: number;
  now?: number;
}

/** Creates a session; `token` is the cookie value, shown to nobody else and not stored. */
export async function createSession(db: Db, input: NewSession): Promise<{ token: string; session: SessionRow }> {
  const now = input.now ?? Date.now();
  const token = randomBytes(32).toString("base64url");
  const [session] = await db
    .insert(sessions)
    .values({
      id: newId(),
      tokenHash: sha256Hex(token),
      kind: input.kind,
      userId: input.userId ?? null,
      apiKeyId: input.apiKeyId ?? null,
      pending2fa: input.pending2fa ?? false,
      csrfToken: randomBytes(24).toString("base64url"),
      created: new Date(now),
      expires: new Date(now + input.ttlMs),
    })
    .returning();
  return { token, session: session! };
}

/** The live session for a cookie value; an expired one is deleted and not returned. */
export async function findSession(db: Db, token: string, now = Date.now()): Promise<SessionRow | undefined> {
  if (!token || token.length > 200) return undefined;
  const [row] = await db.select().from(sessions).where(eq(sessions.tokenHash, sha256Hex(token))).limit(1);
  if (!row) return undefined;
  if (row.expires.getTime() <= now) {
    await db.delete(sessions).where(eq(sessions.id, row.id));
    return undefined;
  }
  return row;
}

export async function deleteSession(db: Db, id: string): Promise<boolean> {
  const res = await db.delete(sessions).where(eq(sessions.id, id));
  return affectedRows(res) > 0;
}

/** Ends every session of a user (after a password change). */
export async function deleteUserSessions(db: Db, userId: string): Promise<number> {
  const res = await db.delete(sessions).where(eq(sessions.userId, userId));
  return affectedRows(res);
}

/** Ends every API session opened with a key (after the key is revoked). */
export async function deleteApiKeySessions(db: Db, apiKeyId: string): Promise<number> {
  const res = await db.delete(sessions).where(and(eq(sessions.kind, "api"), eq(sessions.apiKeyId, apiKeyId)));
  return affectedRows(res);
}

export async function deleteExpiredSessions(db: Db, now = Date.now()): Promise<number> {
  const res = await db.delete(sessions).where(lt(sessions.expires, new Date(now)));
  return affectedRows(res);
}
