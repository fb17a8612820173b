// Users: admins (Admin CLI, Dashboard Setup) who log in to the dashboard, and tunnel
// users (Tunnel Registration) that only group tunnels and never log in.
import { and, asc, count, eq } from "drizzle-orm";
import { UserError } from "../../lib/errors.ts";
import { newId } from "../ids.ts";
import { TOTP_STATE, USER_ORIGIN, users, type UserOrigin } from "../schema.ts";
import { affectedRows, assertId, isUniqueViolation, type Db } from "./_shared.ts";

export type UserRow = typeof users.$inferSelect;
export type TwoFactorStatus = "disabled" | "pending" | "enabled";

/** A user as listings and the API show it: never the password hash or the TOTP secret. */
export interface UserInfo {
  id: string;
  email: string;
  fullName: string;
  origin: UserOrigin;
  isAdmin: boolean;
  twoFactor: TwoFactorStatus;
  created: Date;
  modified: Date;
}

const TWO_FACTOR_STATUS: Record<number, TwoFactorStatus> = {
  [TOTP_STATE.disabled]: "disabled",
  [TOTP_STATE.pendingSetup]: "pending",
  [TOTP_STATE.enabled]: "enabled",
};

export function toUserInfo(u: UserRow): UserInfo {
  return {
    id: u.id,
    email: u.email,
    fullName: u.fullName,
    origin: u.origin,
    isAdmin: u.isAdmin,
    twoFactor: TWO_FACTOR_STATUS[u.totpState] ?? "disabled",
    created: u.created,
    modified: u.modified,
  };
}

// Deliberately simple (RFC 5322 is not what people type): one @, no spaces, a dotted
// domain of hostname labels, and the SMTP length limits.
const EMAIL = /^[^\s@"<>()[\],;:\\]{1,64}@(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/i;

export function isValidEmail(email: string): boolean {
  return EMAIL.test(email);
}

/** Emails are unique case-insensitively: stored trimmed and lowercased. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The normalized email, or a UserError saying it is malformed. */
export function parseEmail(email: string): string {
  const e = normalizeEmail(email);
  if (!isValidEmail(e)) throw new UserError(`invalid email address ${JSON.stringify(email.trim())}`);
  return e;
}

export async function hashPassword(password: string): Promise<string> {
  if (!password) throw new UserError("password must not be empty");
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/** False for users without a password (tunnel users) instead of throwing. */
export async function verifyPassword(user: Pick<UserRow, "passwordHash">, password: string): Promise<boolean> {
  if (!user.passwordHash || !password) return false;
  return Bun.password.verify(password, user.passwordHash).catch(() => false);
}

export interface NewUser {
  email: string;
  fullName?: string;
  /** Required for admins (they log in); tunnel users have none. */
  password?: string;
  origin: UserOrigin;
  /** Ask for TOTP setup at the first login. */
  enable2FA?: boolean;
}

export async function createUser(db: Db, input: NewUser): Promise<UserInfo> {
  const isAdmin = input.origin !== USER_ORIGIN.tunnelRegistration;
  const email = isAdmin ? parseEmail(input.email) : input.email.trim();
  if (!email) throw new UserError("user id must not be empty");
  if (isAdmin && !input.password) throw new UserError("password must not be empty");
  if (await findUserByEmail(db, email)) throw new UserError(`a user with email ${email} already exists`);
  const passwordHash = input.password ? await hashPassword(input.password) : "";
  const now = new Date();
  const row = {
    id: newId(),
    email,
    fullName: input.fullName?.trim() ?? "",
    origin: input.origin,
    isAdmin,
    passwordHash,
    totpState: input.enable2FA ? TOTP_STATE.pendingSetup : TOTP_STATE.disabled,
    created: now,
    modified: now,
  };
  try {
    const [inserted] = await db.insert(users).values(row).returning();
    return toUserInfo(inserted!);
  } catch (err) {
    // Another process created the same email between our check and the insert.
    if (isUniqueViolation(err)) throw new UserError(`a user with email ${email} already exists`);
    throw err;
  }
}

/** The tunnel user a registration `id` names, created on first use (SPEC 2.3 "Registration"). */
export async function findOrCreateTunnelUser(db: Db, name: string): Promise<UserInfo> {
  const existing = await findUserByEmail(db, name.trim());
  if (existing) return toUserInfo(existing);
  try {
    return await createUser(db, { email: name, origin: USER_ORIGIN.tunnelRegistration });
  } catch (err) {
    // Two registrations with the same id at once: the other one won, use its user.
    const again = await findUserByEmail(db, name.trim());
    if (again) return toUserInfo(again);
    throw err;
  }
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.email, normalizeEmail(email))).limit(1);
  if (row) return row;
  // Tunnel user names are stored as given, so look for the exact spelling too.
  if (email.trim() === normalizeEmail(email)) return undefined;
  const [exact] = await db.select().from(users).where(eq(users.email, email.trim())).limit(1);
  return exact;
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, assertId(id, "user id"))).limit(1);
  return row;
}

/** The user named by `--email E` or `--id ID`; a clear error when there is none. */
export async function getUser(db: Db, by: { email: string } | { id: string }): Promise<UserRow> {
  if ("email" in by) {
    const u = await findUserByEmail(db, by.email);
    if (!u) throw new UserError(`no user with email ${by.email.trim()}`);
    return u;
  }
  const u = await findUserById(db, by.id);
  if (!u) throw new UserError(`no user with id ${by.id}`);
  return u;
}

/** Like getUser, for actions that only make sense for people who log in (password, 2FA). */
export async function getAdminUser(db: Db, by: { email: string } | { id: string }): Promise<UserRow> {
  const u = await getUser(db, by);
  if (!u.isAdmin) throw new UserError(`${u.email} is a tunnel user (origin ${u.origin}), which cannot log in`);
  return u;
}

/** Admins only, unless `all` (which adds tunnel users); oldest first. */
export async function listUsers(db: Db, opts: { all?: boolean } = {}): Promise<UserInfo[]> {
  const q = db.select().from(users);
  const rows = await (opts.all ? q : q.where(eq(users.isAdmin, true))).orderBy(asc(users.created), asc(users.email));
  return rows.map(toUserInfo);
}

/** The first-run setup is offered only while this is zero. */
export async function countAdmins(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(users).where(eq(users.isAdmin, true));
  return row?.n ?? 0;
}

export async function setPassword(db: Db, userId: string, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  const res = await db.update(users).set({ passwordHash, modified: new Date() }).where(eq(users.id, assertId(userId, "user id")));
  if (!affectedRows(res)) throw new UserError(`no user with id ${userId}`);
}

export async function setFullName(db: Db, userId: string, fullName: string): Promise<void> {
  const res = await db.update(users).set({ fullName: fullName.trim(), modified: new Date() }).where(eq(users.id, assertId(userId, "user id")));
  if (!affectedRows(res)) throw new UserError(`no user with id ${userId}`);
}

/**
 * `enable` and `reset` leave the user waiting for TOTP setup at the next login (with a
 * new secret: any old one is dropped); `disable` turns the second factor off.
 */
export async function setTwoFactor(db: Db, userId: string, action: "enable" | "disable" | "reset"): Promise<void> {
  const totpState = action === "disable" ? TOTP_STATE.disabled : TOTP_STATE.pendingSetup;
  const res = await db
    .update(users)
    .set({ totpState, totpSecret: "", modified: new Date() })
    .where(eq(users.id, assertId(userId, "user id")));
  if (!affectedRows(res)) throw new UserError(`no user with id ${userId}`);
}

/** The dashboard calls this once the user has proved a passcode for `secret`. */
export async function completeTwoFactorSetup(db: Db, userId: string, secret: string): Promise<void> {
  const res = await db
    .update(users)
    .set({ totpState: TOTP_STATE.enabled, totpSecret: secret, modified: new Date() })
    .where(eq(users.id, assertId(userId, "user id")));
  if (!affectedRows(res)) throw new UserError(`no user with id ${userId}`);
}

/**
 * Keeps the secret the user is being shown during TOTP setup (state stays pending until
 * completeTwoFactorSetup). A refresh replaces it, so only the latest QR code validates.
 */
export async function setTwoFactorCandidate(db: Db, userId: string, secret: string): Promise<void> {
  const res = await db
    .update(users)
    .set({ totpSecret: secret, modified: new Date() })
    .where(and(eq(users.id, assertId(userId, "user id")), eq(users.totpState, TOTP_STATE.pendingSetup)));
  if (!affectedRows(res)) throw new UserError("two-factor setup is not pending for this user");
}
