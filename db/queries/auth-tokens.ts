// Auth tokens (table `apikeys`, as in the original): the key of one tunnel. Creating a
// token creates its tunnel (state Init); deactivating it shuts that tunnel down.
import { asc, eq } from "drizzle-orm";
import { UserError } from "../../lib/errors.ts";
import { newId, newTokenValue } from "../ids.ts";
import { apikeys, TUNNEL_STATE, TUNNEL_STATE_NAME, tunnels, users } from "../schema.ts";
import { assertId, secretsEqual, type Db, type TokenFields } from "./_shared.ts";
import { shutdownTunnels, type TunnelRow } from "./tunnels.ts";

export type AuthTokenRow = typeof apikeys.$inferSelect;

/** The token object of SPEC 2 (`--json`): `user` is the owner's email, else its id. */
export interface AuthTokenInfo extends TokenFields {
  user: string;
  tunnel: string;
  hostname: string;
  /** With `all`: the state of the bound tunnel (`Shutdown` after `token rm`), "" when it is gone. */
  tunnelState?: string;
}

export interface NewAuthToken {
  /** The tunnel's hostname (informational). */
  hostname?: string;
  /** The tunnel user (registration `id`) the tunnel belongs to. */
  userId?: string | null;
  description?: string;
}

export async function createAuthToken(db: Db, input: NewAuthToken = {}): Promise<{ token: AuthTokenRow; tunnel: TunnelRow }> {
  const now = new Date();
  const hostname = input.hostname?.trim().toLowerCase() ?? "";
  const userId = input.userId ?? null;
  return db.transaction(async (tx) => {
    const [tunnel] = await tx
      .insert(tunnels)
      .values({ id: newId(), userId, state: TUNNEL_STATE.init, hostname, created: now, modified: now })
      .returning();
    const [token] = await tx
      .insert(apikeys)
      .values({ id: newId(), value: newTokenValue(), userId, tunnelId: tunnel!.id, hostname, description: input.description?.trim() ?? "", created: now, modified: now })
      .returning();
    return { token: token!, tunnel: tunnel! };
  });
}

/**
 * Every token, oldest first, deactivated ones included (SPEC 2.2: `rm` deactivates, and the
 * listing has an Active column). `all` adds the bound tunnel's state.
 */
export async function listAuthTokens(db: Db, opts: { all?: boolean } = {}): Promise<AuthTokenInfo[]> {
  const rows = await db
    .select({ token: apikeys, email: users.email, state: tunnels.state })
    .from(apikeys)
    .leftJoin(users, eq(users.id, apikeys.userId))
    .leftJoin(tunnels, eq(tunnels.id, apikeys.tunnelId))
    .orderBy(asc(apikeys.created), asc(apikeys.id));
  return rows.map(({ token: t, email, state }) => ({
    id: t.id,
    created: t.created,
    modified: t.modified,
    active: t.active,
    description: t.description,
    value: t.value,
    user: email ?? t.userId ?? "",
    tunnel: t.tunnelId ?? "",
    hostname: t.hostname,
    ...(opts.all ? { tunnelState: state ? TUNNEL_STATE_NAME[state] ?? "" : "" } : {}),
  }));
}

export async function getAuthToken(db: Db, id: string): Promise<AuthTokenRow> {
  const [row] = await db.select().from(apikeys).where(eq(apikeys.id, assertId(id, "token id"))).limit(1);
  if (!row) throw new UserError(`no token with id ${id}`);
  return row;
}

/** The token a client presents (active or not: the caller tells the client which). */
export async function findAuthTokenByValue(db: Db, value: string): Promise<AuthTokenRow | undefined> {
  if (!value) return undefined;
  const [row] = await db.select().from(apikeys).where(eq(apikeys.value, value)).limit(1);
  // The index lookup finds the candidate; the final say is a constant-time comparison.
  return row && secretsEqual(row.value, value) ? row : undefined;
}

/** The auth token of a tunnel (Admin API `tunnel/auth/{id}`). */
export async function findAuthTokenByTunnel(db: Db, tunnelId: string): Promise<AuthTokenRow | undefined> {
  const [row] = await db.select().from(apikeys).where(eq(apikeys.tunnelId, assertId(tunnelId, "tunnel id"))).orderBy(asc(apikeys.created)).limit(1);
  return row;
}

/** Deactivates one token and shuts its tunnel down (ports released), in one transaction. */
export async function deactivateAuthToken(db: Db, id: string): Promise<AuthTokenRow> {
  return db.transaction(async (tx) => {
    const token = await getAuthToken(tx, id);
    const now = new Date();
    await tx.update(apikeys).set({ active: false, modified: now }).where(eq(apikeys.id, token.id));
    if (token.tunnelId) await shutdownTunnels(tx, [token.tunnelId]);
    return { ...token, active: false, modified: now };
  });
}

/** Deactivates every active token and shuts their tunnels down; returns how many tokens changed. */
export async function deactivateAuthTokens(db: Db): Promise<number> {
  return db.transaction(async (tx) => {
    const active = await tx.select({ tunnelId: apikeys.tunnelId }).from(apikeys).where(eq(apikeys.active, true));
    await tx.update(apikeys).set({ active: false, modified: new Date() }).where(eq(apikeys.active, true));
    await shutdownTunnels(tx, [...new Set(active.flatMap((t) => (t.tunnelId ? [t.tunnelId] : [])))]);
    return active.length;
  });
}
