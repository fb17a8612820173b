import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createAdminApiKey, listAdminApiKeys, revokeAdminApiKey, verifyAdminApiKey } from "../../../../db/queries/admin-api-keys.ts";
import { adminApiKeys } from "../../../../db/schema.ts";
import { memoryDb } from "../../../db-fixtures.ts";

test("only the SHA-256 and a prefix are stored; the value is returned once", async () => {
  const db = await memoryDb();
  const { key, value } = await createAdminApiKey(db, { description: "ci" });
  const [row] = await db.select().from(adminApiKeys);
  expect(row!.keyHash).toBe(createHash("sha256").update(value).digest("hex"));
  expect(JSON.stringify(row)).not.toContain(value);
  expect(key).toEqual({ id: row!.id, created: row!.created, description: "ci", prefix: value.slice(0, 8), active: true, lastUsed: null });
  expect(await listAdminApiKeys(db)).toEqual([key]);
});

test("verify accepts the exact value of an active key and records its use", async () => {
  const db = await memoryDb();
  const { key, value } = await createAdminApiKey(db);
  const when = new Date("2030-01-02T03:04:05Z");
  expect(await verifyAdminApiKey(db, value, when)).toMatchObject({ id: key.id, lastUsed: when });
  expect((await listAdminApiKeys(db))[0]!.lastUsed).toEqual(when);
  expect(await verifyAdminApiKey(db, value.slice(1))).toBeUndefined();
  expect(await verifyAdminApiKey(db, "")).toBeUndefined();
});

test("a revoked key stays listed as inactive and no longer verifies", async () => {
  const db = await memoryDb();
  const { key, value } = await createAdminApiKey(db);
  expect((await revokeAdminApiKey(db, key.id)).active).toBe(false);
  expect(await verifyAdminApiKey(db, value)).toBeUndefined();
  expect((await listAdminApiKeys(db)).map((k) => k.active)).toEqual([false]);
  await expect(revokeAdminApiKey(db, "c".repeat(32))).rejects.toThrow(`no API key with id ${"c".repeat(32)}`);
  await expect(revokeAdminApiKey(db, "nope")).rejects.toThrow('malformed API key id "nope"');
});
