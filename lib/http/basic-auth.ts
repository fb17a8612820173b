/**
 * HTTP Basic authentication (RFC 7617) and site passwords for tunnel HTTP rules
 * (`basicHttpAuth`, `password`). The client configuration file is copied around
 * (server `tunnel/config/{id}`, backups, remote edits), so it must never hold a
 * usable password: both are kept as salted hashes (SPEC 3.1).
 *
 * A rule's `password` is a PHC string from `Bun.password.hash` (argon2id:
 * `$argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>`; bcrypt from older files still
 * verifies). Stored format of a rule's `basicHttpAuth`: `<user>:<password hash>`.
 * The user name cannot contain `:` (RFC 7617 §2) and the PHC string never does, so
 * the first `:` splits them. `hashBasicAuth(user, password)` produces it; the plain
 * password is never stored.
 *
 * Checking costs an argon2 verification (~100 ms of CPU, 64 MiB), far too much to
 * repeat for every request of a page load, so `createBasicAuthVerifier` remembers
 * recent outcomes keyed by a SHA-256 of (stored value, Authorization header); the
 * plain credentials are not kept. The user name is compared in constant time and a
 * wrong user name is refused without hashing, so unknown users cost nothing (the
 * user name is thus not a secret; the password is). Callers should still
 * rate-limit failures per remote address.
 */
import { createHash } from "node:crypto";
import { sameSecret } from "./same-secret.ts";
import { UserError } from "../errors.ts";

export interface BasicCredentials {
  user: string;
  password: string;
}

/** The credentials of an `Authorization: Basic <base64(user:password)>` value, or null. */
export function parseBasicAuthorization(header: string | null | undefined): BasicCredentials | null {
  if (!header) return null;
  const h = header.trim();
  if (h.length < 7 || h.slice(0, 6).toLowerCase() !== "basic ") return null;
  const token = h.slice(6).trim();
  if (token === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length % 4 === 1) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(token, "base64"));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** PHC strings Bun.password can verify: argon2 (what we write) and bcrypt (older files). */
const PASSWORD_HASH = /^\$(argon2id|argon2i|argon2d|2[aby])\$/;

export function isPasswordHash(value: string): boolean {
  return PASSWORD_HASH.test(value);
}

/** A salted argon2id hash of a password, as rules store it. */
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, "argon2id");
}

/** Whether `password` matches a stored hash; a plain or damaged value never does. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!isPasswordHash(hash)) return false;
  try {
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

function checkUser(user: string): void {
  if (user === "") throw new UserError("basic auth user name must not be empty");
  if (user.includes(":")) throw new UserError("basic auth user name must not contain ':'");
  if (/[\x00-\x1f\x7f]/.test(user)) throw new UserError("basic auth user name must not contain control characters");
}

/** The stored `basicHttpAuth` value for a user and password (argon2id via Bun.password). */
export async function hashBasicAuth(user: string, password: string): Promise<string> {
  checkUser(user);
  if (password === "") throw new UserError("basic auth password must not be empty");
  return `${user}:${await hashPassword(password)}`;
}

/** Splits a stored value; null when it is not `user:<password hash>`. */
export function splitStoredBasicAuth(stored: string): { user: string; hash: string } | null {
  const colon = stored.indexOf(":");
  if (colon <= 0) return null;
  const hash = stored.slice(colon + 1);
  return isPasswordHash(hash) ? { user: stored.slice(0, colon), hash } : null;
}

/** Splits a stored value; throws a UserError when it is not `user:<password hash>`. */
export function parseStoredBasicAuth(stored: string): { user: string; hash: string } {
  const parsed = splitStoredBasicAuth(stored);
  if (!parsed) throw new UserError("basicHttpAuth must be \"user:<password hash>\" (see hashBasicAuth)");
  return parsed;
}

/** Whether a stored value is `user:<password hash>` (as opposed to, say, a plain password). */
export function isStoredBasicAuth(stored: string): boolean {
  return splitStoredBasicAuth(stored) !== null;
}


/** Checks an Authorization header value against a stored `basicHttpAuth`. */
export async function verifyBasicAuth(stored: string, authorization: string | null | undefined): Promise<boolean> {
  const creds = parseBasicAuthorization(authorization);
  const parsed = splitStoredBasicAuth(stored);
  if (!creds || !parsed) return false;
  if (!sameSecret(creds.user, parsed.user)) return false;
  return verifyPassword(creds.password, parsed.hash);
}

export interface BasicAuthVerifier {
  /**
   * Like verifyBasicAuth, but answers synchronously (a boolean) when the same
   * header was checked against the same stored value recently; a Promise otherwise.
   */
  verify(stored: string, authorization: string | null | undefined): boolean | Promise<boolean>;
}

export function createBasicAuthVerifier(opts: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}): BasicAuthVerifier {
  const max = opts.maxEntries ?? 1000;
  const ttl = opts.ttlMs ?? 5 * 60_000;
  const now = opts.now ?? Date.now;
  // Insertion-ordered: the first key is the oldest.
  const cache = new Map<string, { ok: boolean; at: number }>();
  const inflight = new Map<string, Promise<boolean>>();
  return {
    verify(stored, authorization) {
      if (!authorization) return false;
      const key = createHash("sha256").update(stored).update("\0").update(authorization).digest("base64");
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttl) return hit.ok;
      const running = inflight.get(key);
      if (running) return running;
      const p = verifyBasicAuth(stored, authorization).then((ok) => {
        inflight.delete(key);
        cache.delete(key);
        cache.set(key, { ok, at: now() });
        while (cache.size > max) cache.delete(cache.keys().next().value!);
        return ok;
      });
      inflight.set(key, p);
      return p;
    },
  };
}
