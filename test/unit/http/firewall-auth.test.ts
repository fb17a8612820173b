import { describe, expect, test } from "bun:test";
import { UserError } from "../../../lib/errors.ts";
import {
  createBasicAuthVerifier,
  hashBasicAuth,
  hashPassword,
  isPasswordHash,
  isStoredBasicAuth,
  parseBasicAuthorization,
  parseStoredBasicAuth,
  verifyBasicAuth,
  verifyPassword,
} from "../../../lib/http/basic-auth.ts";
import { compileFirewall, parseRemote, type FirewallRule } from "../../../lib/http/firewall.ts";

const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;

describe("firewall", () => {
  test("no rules: everyone is allowed", () => {
    expect(compileFirewall([]).decide("203.0.113.9")).toBe("allow");
    expect(compileFirewall(undefined).decide("::1")).toBe("allow");
  });

  test("ordering matrix: sequence order, first match wins, default allow", () => {
    // Listed out of order on purpose.
    const rules: FirewallRule[] = [
      { sequence: 30, action: "drop", network: "10.0.0.0/8" },
      { sequence: 10, action: "allow", network: "10.1.2.3" },
      { sequence: 20, action: "drop", network: "10.1.0.0/16" },
      { sequence: 40, action: "allow", network: "2001:db8::/32" },
      { sequence: 50, action: "drop", network: "2001:db8:ffff::/48" }, // shadowed by 40
      { sequence: 60, action: "drop", network: "::1" },
    ];
    const fw = compileFirewall(rules);
    expect(fw.rules.map((r) => r.sequence)).toEqual([10, 20, 30, 40, 50, 60]);
    const matrix: [string, "allow" | "drop"][] = [
      ["10.1.2.3", "allow"], // seq 10 before 20 and 30
      ["10.1.2.4", "drop"], // seq 20
      ["10.9.9.9", "drop"], // seq 30
      ["11.0.0.1", "allow"], // no match
      ["::ffff:10.1.2.3", "allow"], // IPv4-mapped IPv6 follows the IPv4 rules
      ["::ffff:10.1.2.4", "drop"],
      ["::ffff:192.0.2.1", "allow"],
      ["2001:db8:ffff::1", "allow"], // seq 40 wins over 50
      ["2001:db9::1", "allow"],
      ["::1", "drop"],
      ["[::1]", "drop"],
      ["fe80::1%eth0", "allow"],
      ["not-an-ip", "drop"], // unparsable: fail closed
    ];
    for (const [addr, want] of matrix) expect([addr, fw.decide(addr)]).toEqual([addr, want]);
  });

  test("allow-list with a catch-all drop", () => {
    const fw = compileFirewall([
      { sequence: 1, action: "allow", network: "192.168.0.0/16" },
      { sequence: 2, action: "allow", network: "fd00::/8" },
      { sequence: 3, action: "drop", network: "any" },
    ]);
    expect(fw.allows("192.168.10.20")).toBe(true);
    expect(fw.allows("::ffff:192.168.1.1")).toBe(true);
    expect(fw.allows("fd12::5")).toBe(true);
    expect(fw.allows("8.8.8.8")).toBe(false);
    expect(fw.allows("2001:db8::1")).toBe(false);
  });

  test("equal sequences keep their listed order", () => {
    const a = compileFirewall([
      { sequence: 1, action: "drop", network: "10.0.0.1" },
      { sequence: 1, action: "allow", network: "10.0.0.0/8" },
    ]);
    expect(a.decide("10.0.0.1")).toBe("drop");
  });

  test("IPv4 rules do not match IPv6 visitors and vice versa; mapped rules become IPv4", () => {
    const fw = compileFirewall([
      { sequence: 1, action: "drop", network: "0.0.0.0/0" },
      { sequence: 2, action: "drop", network: "::ffff:172.16.0.0/108" },
    ]);
    expect(fw.decide("1.2.3.4")).toBe("drop");
    expect(fw.decide("2001:db8::1")).toBe("allow");
    const mapped = compileFirewall([{ sequence: 1, action: "drop", network: "::ffff:172.16.0.0/112" }]); // = 172.16.0.0/16
    expect(mapped.decide("172.16.5.5")).toBe("drop");
    expect(mapped.decide("172.17.0.1")).toBe("allow");
  });

  test("bad rules are UserErrors naming the rule", () => {
    const bad: unknown[] = [
      [{ sequence: 1, action: "allow", network: "10.0.0.0/33" }],
      [{ sequence: 1, action: "allow", network: "10.1" }],
      [{ sequence: 1, action: "allow", network: "example.com" }],
      [{ sequence: 1, action: "deny", network: "10.0.0.0/8" }],
      [{ sequence: "x", action: "allow", network: "10.0.0.0/8" }],
    ];
    for (const rules of bad) {
      expect(() => compileFirewall(rules as FirewallRule[])).toThrow(UserError);
    }
    expect(() => compileFirewall([{ sequence: 7, action: "allow", network: "nope" }])).toThrow('firewall rule 1 (sequence 7): network "nope" is not an IP address or CIDR');
  });

  test("parseRemote normalises mapped addresses", () => {
    expect(parseRemote("::ffff:127.0.0.1")?.toString()).toBe("127.0.0.1");
    expect(parseRemote("[2001:db8::1]")?.toString()).toBe("2001:db8::1");
    expect(parseRemote("")).toBeNull();
  });
});

describe("rule passwords", () => {
  test("are stored as salted argon2id hashes that verify", async () => {
    const a = await hashPassword("hunter2");
    const b = await hashPassword("hunter2");
    expect(a).toStartWith("$argon2id$");
    expect(a).not.toContain("hunter2");
    expect(a).not.toBe(b); // salted
    expect(isPasswordHash(a)).toBe(true);
    expect(await verifyPassword("hunter2", a)).toBe(true);
    expect(await verifyPassword("hunter3", a)).toBe(false);
  });

  test("a plain value never verifies as a hash", async () => {
    expect(isPasswordHash("hunter2")).toBe(false);
    expect(await verifyPassword("hunter2", "hunter2")).toBe(false);
  });
});

describe("basic auth", () => {
  test("parse Authorization headers", () => {
    expect(parseBasicAuthorization(basic("alice:s3cr:et"))).toEqual({ user: "alice", password: "s3cr:et" });
    expect(parseBasicAuthorization(`basic   ${Buffer.from("bob:").toString("base64")}`)).toEqual({ user: "bob", password: "" });
    expect(parseBasicAuthorization(basic("ünï:pässword"))).toEqual({ user: "ünï", password: "pässword" });
    for (const bad of [undefined, "", "Bearer abc", "Basic", "Basic !!!", basic("no-colon"), "Basic " + Buffer.from([0xff, 0x3a]).toString("base64")]) {
      expect(parseBasicAuthorization(bad)).toBeNull();
    }
  });

  test("hash, store, verify: accept the right pair, reject everything else", async () => {
    const stored = await hashBasicAuth("alice", "correct horse");
    expect(stored).toStartWith("alice:$argon2id$");
    expect(isStoredBasicAuth(stored)).toBe(true);
    expect(parseStoredBasicAuth(stored).user).toBe("alice");
    expect(await verifyBasicAuth(stored, basic("alice:correct horse"))).toBe(true);
    expect(await verifyBasicAuth(stored, basic("alice:wrong"))).toBe(false);
    expect(await verifyBasicAuth(stored, basic("Alice:correct horse"))).toBe(false);
    expect(await verifyBasicAuth(stored, basic("alicex:correct horse"))).toBe(false);
    expect(await verifyBasicAuth(stored, null)).toBe(false);
    expect(await verifyBasicAuth("alice:plaintext", basic("alice:plaintext"))).toBe(false);
    expect(await verifyBasicAuth("alice:$argon2id$damaged", basic("alice:x"))).toBe(false);
  });

  test("a password may contain colons: only the user name is split off", async () => {
    const stored = await hashBasicAuth("bob", "s3cret:with:colons");
    expect(stored).toStartWith("bob:$argon2id$");
    expect(await verifyBasicAuth(stored, basic("bob:s3cret:with:colons"))).toBe(true);
    expect(await verifyBasicAuth(stored, basic("alice:s3cret:with:colons"))).toBe(false);
  });

  test("bad user names and empty passwords are refused when hashing", async () => {
    await expect(hashBasicAuth("a:b", "p")).rejects.toThrow(UserError);
    await expect(hashBasicAuth("", "p")).rejects.toThrow(UserError);
    await expect(hashBasicAuth("a", "")).rejects.toThrow(UserError);
    expect(() => parseStoredBasicAuth("just-a-password")).toThrow(UserError);
  });

  test("the verifier answers repeats synchronously and forgets after the TTL or a password change", async () => {
    let clock = 0;
    const v = createBasicAuthVerifier({ ttlMs: 1000, now: () => clock });
    const stored = await hashBasicAuth("bob", "pw");
    const good = basic("bob:pw");
    const first = v.verify(stored, good);
    expect(first).toBeInstanceOf(Promise);
    expect(v.verify(stored, good)).toBe(first); // concurrent checks share one hash
    expect(await first).toBe(true);
    expect(v.verify(stored, good)).toBe(true);
    expect(await v.verify(stored, basic("bob:nope"))).toBe(false);
    expect(v.verify(stored, basic("bob:nope"))).toBe(false);
    expect(v.verify(stored, undefined)).toBe(false);
    const changed = await hashBasicAuth("bob", "new");
    expect(await v.verify(changed, good)).toBe(false);
    clock = 2000;
    expect(v.verify(stored, good)).toBeInstanceOf(Promise);
  });
});
