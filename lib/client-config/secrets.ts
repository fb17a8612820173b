// Site passwords and basic-auth credentials are kept as salted hashes (SPEC 3.1): the
// config file is copied around (server `tunnel/config/{id}`, backups, remote edits), so
// it must never hold a usable password.

/** PHC strings Bun.password can verify: argon2 (what we write) and bcrypt (older files). */
const HASH = /^\$(argon2id|argon2i|argon2d|2[aby])\$/;

export function isPasswordHash(value: string): boolean {
  return HASH.test(value);
}

export function hashRulePassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/**
 * `user:<hash>`. RFC 7617 forbids a colon in the user-id (the header splits on the first
 * one), which also keeps this format unambiguous.
 */
export async function hashBasicAuth(user: string, password: string): Promise<string> {
  return `${user}:${await hashRulePassword(password)}`;
}

export function splitBasicAuth(stored: string): { user: string; hash: string } | undefined {
  const i = stored.indexOf(":");
  if (i <= 0) return undefined;
  return { user: stored.slice(0, i), hash: stored.slice(i + 1) };
}

export async function verifyRulePassword(password: string, stored: string): Promise<boolean> {
  if (!isPasswordHash(stored)) return false;
  try {
    return await Bun.password.verify(password, stored);
  } catch {
    return false;
  }
}

export async function verifyBasicAuth(stored: string, user: string, password: string): Promise<boolean> {
  const parts = splitBasicAuth(stored);
  if (!parts || parts.user !== user) return false;
  return verifyRulePassword(password, parts.hash);
}
