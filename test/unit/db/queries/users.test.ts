import { describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import {
  completeTwoFactorSetup,
  countAdmins,
  createUser,
  findOrCreateTunnelUser,
  findUserByEmail,
  getAdminUser,
  getUser,
  isValidEmail,
  listUsers,
  setPassword,
  setTwoFactor,
  verifyPassword,
} from "../../../../db/queries/users.ts";
import { TOTP_STATE, USER_ORIGIN, users } from "../../../../db/schema.ts";
import { memoryDb } from "../../../db-fixtures.ts";

const admin = { email: "Ann@Example.com", fullName: " Ann Admin ", password: "s3cret", origin: USER_ORIGIN.adminCli };

describe("email validation", () => {
  test.each(["a@b.co", "first.last+tag@sub.example.org", "x_y@a-b.example"])("accepts %p", (e) => expect(isValidEmail(e)).toBe(true));
  test.each(["", "plain", "a@b", "@b.com", "a@@b.com", "a b@c.com", "a@-b.com", "a@b..com", `${"x".repeat(65)}@b.com`])("rejects %p", (e) =>
    expect(isValidEmail(e)).toBe(false),
  );
});

describe("users", () => {
  test("createUser stores a lowercased email, an argon2id hash and the admin origin", async () => {
    const db = await memoryDb();
    const u = await createUser(db, admin);
    expect(u).toMatchObject({ email: "ann@example.com", fullName: "Ann Admin", origin: "Admin CLI", isAdmin: true, twoFactor: "disabled" });
    expect(u.id).toMatch(/^[0-9a-f]{32}$/);
    expect("passwordHash" in u).toBe(false);
    const row = (await findUserByEmail(db, "ANN@example.com"))!;
    expect(row.passwordHash).toStartWith("$argon2id$");
    expect(await verifyPassword(row, "s3cret")).toBe(true);
    expect(await verifyPassword(row, "wrong")).toBe(false);
  });

  test("rejects a duplicate email (any case), a malformed email and an empty password", async () => {
    const db = await memoryDb();
    await createUser(db, admin);
    await expect(createUser(db, { ...admin, email: "ANN@EXAMPLE.COM" })).rejects.toThrow("a user with email ann@example.com already exists");
    await expect(createUser(db, { ...admin, email: "not-an-email" })).rejects.toThrow('invalid email address "not-an-email"');
    await expect(createUser(db, { ...admin, email: "b@example.com", password: "" })).rejects.toThrow("password must not be empty");
    expect(await listUsers(db)).toHaveLength(1);
  });

  test("enable2FA leaves the user pending setup", async () => {
    const db = await memoryDb();
    const u = await createUser(db, { ...admin, enable2FA: true });
    expect(u.twoFactor).toBe("pending");
  });

  test("listUsers shows admins only unless all, oldest first", async () => {
    const db = await memoryDb();
    const a = await createUser(db, admin);
    const t = await findOrCreateTunnelUser(db, "Device-7");
    // Two creations can share a millisecond: make the admin clearly the older one.
    await db.update(users).set({ created: new Date(t.created.getTime() - 1000) }).where(eq(users.id, a.id));
    expect(t).toMatchObject({ email: "Device-7", origin: "Tunnel Registration", isAdmin: false });
    expect((await findOrCreateTunnelUser(db, "Device-7")).id).toBe(t.id);
    expect((await listUsers(db)).map((u) => u.email)).toEqual(["ann@example.com"]);
    expect((await listUsers(db, { all: true })).map((u) => u.email)).toEqual(["ann@example.com", "Device-7"]);
    expect(await countAdmins(db)).toBe(1);
  });

  test("getUser by email or id, with clear errors", async () => {
    const db = await memoryDb();
    const u = await createUser(db, admin);
    expect((await getUser(db, { id: u.id })).email).toBe("ann@example.com");
    expect((await getUser(db, { email: "ann@example.com" })).id).toBe(u.id);
    await expect(getUser(db, { email: "nobody@example.com" })).rejects.toThrow("no user with email nobody@example.com");
    await expect(getUser(db, { id: "0".repeat(32) })).rejects.toThrow(`no user with id ${"0".repeat(32)}`);
    await expect(getUser(db, { id: "xyz" })).rejects.toThrow('malformed user id "xyz"');
  });

  test("getAdminUser refuses tunnel users, which never log in", async () => {
    const db = await memoryDb();
    const a = await createUser(db, admin);
    await findOrCreateTunnelUser(db, "device-9");
    expect((await getAdminUser(db, { id: a.id })).email).toBe("ann@example.com");
    await expect(getAdminUser(db, { email: "device-9" })).rejects.toThrow("device-9 is a tunnel user (origin Tunnel Registration), which cannot log in");
  });

  test("setPassword replaces the hash", async () => {
    const db = await memoryDb();
    const u = await createUser(db, admin);
    await setPassword(db, u.id, "n3w");
    const row = (await findUserByEmail(db, u.email))!;
    expect(await verifyPassword(row, "n3w")).toBe(true);
    expect(await verifyPassword(row, "s3cret")).toBe(false);
    await expect(setPassword(db, u.id, "")).rejects.toThrow("password must not be empty");
    await expect(setPassword(db, "f".repeat(32), "x")).rejects.toThrow("no user with id");
  });

  test("setTwoFactor enable / reset / disable", async () => {
    const db = await memoryDb();
    const u = await createUser(db, admin);
    await setTwoFactor(db, u.id, "enable");
    expect((await findUserByEmail(db, u.email))!.totpState).toBe(TOTP_STATE.pendingSetup);
    await completeTwoFactorSetup(db, u.id, "JBSWY3DPEHPK3PXP");
    let row = (await findUserByEmail(db, u.email))!;
    expect([row.totpState, row.totpSecret]).toEqual([TOTP_STATE.enabled, "JBSWY3DPEHPK3PXP"]);
    await setTwoFactor(db, u.id, "reset");
    row = (await findUserByEmail(db, u.email))!;
    expect([row.totpState, row.totpSecret]).toEqual([TOTP_STATE.pendingSetup, ""]);
    await setTwoFactor(db, u.id, "disable");
    expect((await listUsers(db))[0]!.twoFactor).toBe("disabled");
  });
});
