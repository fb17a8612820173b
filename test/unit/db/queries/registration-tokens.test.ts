import { expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import {
  createRegistrationToken,
  deactivateRegistrationToken,
  deactivateRegistrationTokens,
  deleteRegistrationToken,
  findActiveRegistrationToken,
  getRegistrationToken,
  listRegistrationTokens,
  updateRegistrationToken,
} from "../../../../db/queries/registration-tokens.ts";
import { registrationTokens } from "../../../../db/schema.ts";
import { memoryDb } from "../../../db-fixtures.ts";

test("create gives a 48-hex value and the API object's keys in order", async () => {
  const db = await memoryDb();
  const t = await createRegistrationToken(db, { description: " fleet " });
  expect(Object.keys(t)).toEqual(["id", "created", "modified", "active", "description", "value"]);
  expect(t).toMatchObject({ description: "fleet", active: true });
  expect(t.value).toMatch(/^[0-9a-f]{48}$/);
  expect(t.id).toMatch(/^[0-9a-f]{32}$/);
});

test("list is oldest first and keeps deactivated tokens; activeOnly hides them", async () => {
  const db = await memoryDb();
  const b = await createRegistrationToken(db, { description: "b" });
  const a = await createRegistrationToken(db, { description: "a" });
  // Two creations can share a millisecond: make "a" clearly the older one.
  await db.update(registrationTokens).set({ created: new Date(b.created.getTime() - 1000) }).where(eq(registrationTokens.id, a.id));
  await deactivateRegistrationToken(db, a.id);
  expect((await listRegistrationTokens(db)).map((t) => [t.description, t.active])).toEqual([
    ["a", false],
    ["b", true],
  ]);
  expect((await listRegistrationTokens(db, { activeOnly: true })).map((t) => t.id)).toEqual([b.id]);
});

test("deactivate all counts only the tokens it changed", async () => {
  const db = await memoryDb();
  const a = await createRegistrationToken(db);
  await createRegistrationToken(db);
  await createRegistrationToken(db);
  await deactivateRegistrationToken(db, a.id);
  expect(await deactivateRegistrationTokens(db)).toBe(2);
  expect(await deactivateRegistrationTokens(db)).toBe(0);
});

test("unknown and malformed ids give clear errors", async () => {
  const db = await memoryDb();
  const unknown = "a".repeat(32);
  await expect(deactivateRegistrationToken(db, unknown)).rejects.toThrow(`no registration token with id ${unknown}`);
  await expect(getRegistrationToken(db, "ABC")).rejects.toThrow('malformed token id "ABC" (expected 32 lowercase hex characters)');
  await expect(deleteRegistrationToken(db, unknown)).rejects.toThrow("no registration token with id");
});

test("update changes only the given fields; delete removes the row", async () => {
  const db = await memoryDb();
  const t = await createRegistrationToken(db, { description: "old" });
  expect(await updateRegistrationToken(db, t.id, { description: "new" })).toMatchObject({ description: "new", active: true });
  expect(await updateRegistrationToken(db, t.id, { active: false })).toMatchObject({ description: "new", active: false });
  await deleteRegistrationToken(db, t.id);
  expect(await listRegistrationTokens(db)).toEqual([]);
});

test("findActiveRegistrationToken matches the exact value of an active token only", async () => {
  const db = await memoryDb();
  const t = await createRegistrationToken(db);
  expect((await findActiveRegistrationToken(db, t.value))?.id).toBe(t.id);
  expect(await findActiveRegistrationToken(db, t.value.toUpperCase())).toBeUndefined();
  expect(await findActiveRegistrationToken(db, t.value.slice(0, -1))).toBeUndefined();
  expect(await findActiveRegistrationToken(db, "")).toBeUndefined();
  await deactivateRegistrationToken(db, t.id);
  expect(await findActiveRegistrationToken(db, t.value)).toBeUndefined();
});
