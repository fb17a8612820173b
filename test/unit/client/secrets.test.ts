import { describe, expect, test } from "bun:test";
import { hashBasicAuth, hashRulePassword, isPasswordHash, splitBasicAuth, verifyBasicAuth, verifyRulePassword } from "../../../lib/client-config/index.ts";

describe("rule passwords", () => {
  test("are stored as salted argon2id hashes that verify", async () => {
    const a = await hashRulePassword("hunter2");
    const b = await hashRulePassword("hunter2");
    expect(a).toStartWith("$argon2id$");
    expect(a).not.toContain("hunter2");
    expect(a).not.toBe(b); // salted
    expect(isPasswordHash(a)).toBe(true);
    expect(await verifyRulePassword("hunter2", a)).toBe(true);
    expect(await verifyRulePassword("hunter3", a)).toBe(false);
  });

  test("a plain value never verifies as a hash", async () => {
    expect(isPasswordHash("hunter2")).toBe(false);
    expect(await verifyRulePassword("hunter2", "hunter2")).toBe(false);
  });

  test("basic auth is user:<hash>", async () => {
    const stored = await hashBasicAuth("bob", "s3cret:with:colons");
    expect(stored).toStartWith("bob:$argon2id$");
    expect(splitBasicAuth(stored)!.user).toBe("bob");
    expect(await verifyBasicAuth(stored, "bob", "s3cret:with:colons")).toBe(true);
    expect(await verifyBasicAuth(stored, "alice", "s3cret:with:colons")).toBe(false);
    expect(await verifyBasicAuth(stored, "bob", "wrong")).toBe(false);
  });
});
