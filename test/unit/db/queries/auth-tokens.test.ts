import { expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import {
  createAuthToken,
  deactivateAuthToken,
  deactivateAuthTokens,
  findAuthTokenByTunnel,
  findAuthTokenByValue,
  listAuthTokens,
} from "../../../../db/queries/auth-tokens.ts";
import { findOrCreateTunnelUser } from "../../../../db/queries/users.ts";
import { apikeys, ports, TUNNEL_STATE, tunnels } from "../../../../db/schema.ts";
import { insertPort, memoryDb } from "../../../db-fixtures.ts";

test("createAuthToken creates the bound tunnel in state Init", async () => {
  const db = await memoryDb();
  const user = await findOrCreateTunnelUser(db, "device-1");
  const { token, tunnel } = await createAuthToken(db, { hostname: "Dev.Example.com", userId: user.id });
  expect(token.value).toMatch(/^[0-9a-f]{48}$/);
  expect(token.tunnelId).toBe(tunnel.id);
  expect(tunnel).toMatchObject({ state: TUNNEL_STATE.init, hostname: "dev.example.com", userId: user.id });
  const [listed] = await listAuthTokens(db);
  expect(listed).toEqual({
    id: token.id,
    created: token.created,
    modified: token.modified,
    active: true,
    description: "",
    value: token.value,
    user: "device-1",
    tunnel: tunnel.id,
    hostname: "dev.example.com",
  });
  expect((await findAuthTokenByTunnel(db, tunnel.id))?.id).toBe(token.id);
});

test("listAuthTokens keeps deactivated tokens (active: false); all adds the tunnel state", async () => {
  const db = await memoryDb();
  const b = await createAuthToken(db);
  const a = await createAuthToken(db);
  // Two creations can share a millisecond: make "a" clearly the older one.
  await db.update(apikeys).set({ created: new Date(b.token.created.getTime() - 1000) }).where(eq(apikeys.id, a.token.id));
  await deactivateAuthToken(db, a.token.id);
  expect((await listAuthTokens(db)).map((t) => [t.id, t.active, t.tunnelState])).toEqual([
    [a.token.id, false, undefined],
    [b.token.id, true, undefined],
  ]);
  expect((await listAuthTokens(db, { all: true })).map((t) => [t.id, t.active, t.tunnelState])).toEqual([
    [a.token.id, false, "Shutdown"],
    [b.token.id, true, "Init"],
  ]);
});

test("deactivating a token shuts its tunnel down and releases its ports, leaving others alone", async () => {
  const db = await memoryDb();
  const a = await createAuthToken(db);
  const b = await createAuthToken(db);
  await db.update(tunnels).set({ state: TUNNEL_STATE.online }).where(eq(tunnels.id, a.tunnel.id));
  await insertPort(db, 30001, a.tunnel.id);
  await insertPort(db, 30002, a.tunnel.id);
  await insertPort(db, 30003, b.tunnel.id);
  const t = await deactivateAuthToken(db, a.token.id);
  expect(t.active).toBe(false);
  const states = await db.select({ id: tunnels.id, state: tunnels.state }).from(tunnels);
  expect(new Map(states.map((s) => [s.id, s.state]))).toEqual(new Map([[a.tunnel.id, TUNNEL_STATE.shutdown], [b.tunnel.id, TUNNEL_STATE.init]]));
  expect((await db.select().from(ports)).map((p) => p.port)).toEqual([30003]);
});

test("deactivateAuthTokens shuts every tunnel down and counts the tokens", async () => {
  const db = await memoryDb();
  const a = await createAuthToken(db);
  await createAuthToken(db);
  await insertPort(db, 30001, a.tunnel.id);
  expect(await deactivateAuthTokens(db)).toBe(2);
  expect((await listAuthTokens(db)).map((t) => t.active)).toEqual([false, false]);
  expect((await db.select().from(tunnels)).every((t) => t.state === TUNNEL_STATE.shutdown)).toBe(true);
  expect(await db.select().from(ports)).toEqual([]);
  expect(await deactivateAuthTokens(db)).toBe(0);
});

test("unknown and malformed ids", async () => {
  const db = await memoryDb();
  await expect(deactivateAuthToken(db, "b".repeat(32))).rejects.toThrow(`no token with id ${"b".repeat(32)}`);
  await expect(deactivateAuthToken(db, "123")).rejects.toThrow('malformed token id "123"');
});

test("findAuthTokenByValue finds active and inactive tokens by exact value", async () => {
  const db = await memoryDb();
  const { token } = await createAuthToken(db);
  expect((await findAuthTokenByValue(db, token.value))?.active).toBe(true);
  expect(await findAuthTokenByValue(db, `${token.value}0`)).toBeUndefined();
  expect(await findAuthTokenByValue(db, "")).toBeUndefined();
  await deactivateAuthToken(db, token.id);
  expect((await findAuthTokenByValue(db, token.value))?.active).toBe(false);
});
