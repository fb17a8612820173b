import { describe, expect, test } from "bun:test";
import {
  AllowListError,
  createAllowList,
  parseAllowEntry,
  parseIpLiteral,
  splitAllowListText,
} from "../../../lib/socks/allow-list.ts";

const list = createAllowList([
  "172.16.0.0/24",
  "10.20.30.40",
  "fd00::/8",
  "2001:db8::5",
  "internal-app-a.srv.local",
  "*.srv.local",
  "Mixed-Case.Example.",
]);

const matchesAddress = (ip: string) => list.matchAddress(ip)?.source ?? null;
const matchesHost = (h: string) => list.matchHost(h)?.source ?? null;

describe("parseAllowEntry", () => {
  test.each([
    ["172.16.0.0/24", "cidr"],
    ["10.0.0.1", "cidr"],
    ["fd00::/8", "cidr"],
    ["::1", "cidr"],
    ["0.0.0.0/0", "cidr"],
    ["::/0", "cidr"],
    ["  10.0.0.0/8 ", "cidr"],
    ["app.example.com", "host"],
    ["localhost", "host"],
    ["_svc.example", "host"],
    ["*.srv.local", "wildcard"],
  ])("%s is a %s entry", (entry, kind) => {
    expect(parseAllowEntry(entry).kind).toBe(kind as "cidr");
  });

  test.each([
    ["", "empty entry"],
    ["   ", "empty entry"],
    ["10.0.0.0/33", "prefix length must be 0-32"],
    ["10.0.0.0/-1", "prefix length must be 0-32"],
    ["10.0.0.0/", "prefix length must be 0-32"],
    ["fd00::/129", "prefix length must be 0-128"],
    ["300.1.1.1", "not a valid IPv4 or IPv6 address"],
    ["10.0.0.256", "not a valid IPv4 or IPv6 address"],
    ["127.1", "not a valid IPv4 or IPv6 address"],
    ["010.0.0.1", "not a valid IPv4 or IPv6 address"],
    ["fe80::1%eth0", "not a valid IPv4 or IPv6 address"],
    ["host.example:22", "not a valid IPv4 or IPv6 address"],
    ["gggg::/16", "not a valid IPv4 or IPv6 address"],
    ["*", "a wildcard is only allowed as the whole first label"],
    ["a.*.example", "a wildcard is only allowed as the whole first label"],
    ["*example.com", "a wildcard is only allowed as the whole first label"],
    ["*.", "not a valid wildcard hostname"],
    ["*.-bad-.example", "not a valid wildcard hostname"],
    ["has space.example", "not a valid hostname"],
    ["a..b", "not a valid hostname"],
    ["http://x.example", "not a valid IPv4 or IPv6 address"],
    [`${"a".repeat(64)}.example`, "not a valid hostname"],
  ])("%j is refused: %s", (entry, reason) => {
    let err: unknown;
    try {
      parseAllowEntry(entry);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AllowListError);
    const e = err as AllowListError;
    expect(e.message).toContain(JSON.stringify(entry));
    expect(e.message).toContain(reason);
    expect(e.entry).toBe(entry);
  });

  test("createAllowList names the bad entry among good ones", () => {
    expect(() => createAllowList(["10.0.0.0/8", "192.168.1.0/40"])).toThrow('invalid allow-list entry "192.168.1.0/40": prefix length must be 0-32');
  });

  test("the dashboard's comma separated text", () => {
    expect(splitAllowListText(" 10.0.0.0/8, *.srv.local,,fd00::/8\nhost.a ")).toEqual(["10.0.0.0/8", "*.srv.local", "fd00::/8", "host.a"]);
  });
});

describe("matchAddress", () => {
  test.each([
    ["172.16.0.0", "172.16.0.0/24"], // first address
    ["172.16.0.255", "172.16.0.0/24"], // last address
    ["172.15.255.255", null], // just below
    ["172.16.1.0", null], // just above
    ["10.20.30.40", "10.20.30.40"],
    ["10.20.30.41", null],
    ["10.20.30.39", null],
    ["fd00::", "fd00::/8"],
    ["fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fd00::/8"],
    ["fc00::1", null],
    ["fe00::", null],
    ["2001:db8::5", "2001:db8::5"],
    ["2001:DB8:0:0:0:0:0:5", "2001:db8::5"],
    ["[2001:db8::5]", "2001:db8::5"],
    ["2001:db8::6", null],
    ["::ffff:172.16.0.9", "172.16.0.0/24"], // IPv4-mapped IPv6 reaches the IPv4 address
    ["::ffff:ac10:0009", "172.16.0.0/24"],
    ["::ffff:172.16.1.9", null],
    ["not-an-ip", null],
    ["172.16.0", null],
    ["0xac.16.0.1", null],
  ])("%s -> %p", (ip, expected) => {
    expect(matchesAddress(ip)).toBe(expected);
  });

  test("an IPv4-mapped entry matches the plain IPv4 address", () => {
    const l = createAllowList(["::ffff:192.168.7.0/120"]);
    expect(l.matchAddress("192.168.7.200")?.source).toBe("::ffff:192.168.7.0/120");
    expect(l.matchAddress("192.168.8.1")).toBeNull();
  });

  test("host bits in a CIDR are ignored", () => {
    expect(createAllowList(["172.16.0.5/24"]).matchAddress("172.16.0.200")).not.toBeNull();
  });
});

describe("protected addresses need an explicit entry", () => {
  const broad = createAllowList(["0.0.0.0/0", "::/0"]);

  test.each([
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "169.254.169.254",
    "::1",
    "::",
    "fe80::1",
    "::ffff:127.0.0.1",
  ])("0.0.0.0/0 + ::/0 do not open %s", (ip) => {
    expect(broad.matchAddress(ip)).toBeNull();
    expect(broad.isProtected(ip)).toBe(true);
  });

  test("while ordinary addresses pass", () => {
    expect(broad.matchAddress("8.8.8.8")?.source).toBe("0.0.0.0/0");
    expect(broad.matchAddress("2001:4860::8888")?.source).toBe("::/0");
    expect(broad.isProtected("10.0.0.1")).toBe(false);
  });

  test("a range wider than loopback but not covering it all is still not explicit", () => {
    expect(createAllowList(["64.0.0.0/2"]).matchAddress("127.0.0.1")).toBeNull();
  });

  test.each([
    ["127.0.0.0/8", "127.0.0.1"],
    ["127.0.0.1", "127.0.0.1"],
    ["127.0.0.0/24", "127.0.0.9"],
    ["169.254.169.254", "169.254.169.254"],
    ["::1", "::1"],
    ["fe80::/10", "fe80::abcd"],
  ])("explicit %s opens %s", (entry, ip) => {
    expect(createAllowList(["0.0.0.0/0", entry]).matchAddress(ip)?.source).toBe(entry);
  });

  test("the caller's own addresses are protected the same way", () => {
    const l = createAllowList(["203.0.113.0/24"], { protectedAddresses: ["203.0.113.5"] });
    expect(l.matchAddress("203.0.113.5")).toBeNull();
    expect(l.matchAddress("203.0.113.6")?.source).toBe("203.0.113.0/24");
    const explicit = createAllowList(["203.0.113.0/24", "203.0.113.5"], { protectedAddresses: ["203.0.113.5"] });
    expect(explicit.matchAddress("203.0.113.5")?.source).toBe("203.0.113.5");
  });
});

describe("matchHost", () => {
  test.each([
    ["internal-app-a.srv.local", "internal-app-a.srv.local"],
    ["INTERNAL-APP-A.SRV.LOCAL", "internal-app-a.srv.local"], // case-insensitive
    ["internal-app-a.srv.local.", "internal-app-a.srv.local"], // trailing dot
    ["a.srv.local", "*.srv.local"],
    ["a.b.c.srv.local", "*.srv.local"], // any depth
    ["A.B.Srv.Local.", "*.srv.local"],
    ["srv.local", null], // the wildcard does not cover its own base
    ["xsrv.local", null],
    ["srv.local.evil.test", null],
    ["mixed-case.example", "Mixed-Case.Example."],
    ["other.example", null],
    ["a..srv.local", null],
    ["", null],
    [".", null],
  ])("%j -> %p", (host, expected) => {
    expect(matchesHost(host)).toBe(expected);
  });
});

describe("literal and name helpers", () => {
  test("IP literals are strict", () => {
    expect(parseIpLiteral("127.0.0.1")?.toString()).toBe("127.0.0.1");
    expect(parseIpLiteral("[::1]")?.toString()).toBe("::1");
    expect(parseIpLiteral("::ffff:10.0.0.1")?.toString()).toBe("10.0.0.1");
    for (const s of ["127.1", "2130706433", "0x7f.0.0.1", "127.000.000.001", "fe80::1%lo", "::1]", "localhost"]) {
      expect(parseIpLiteral(s)).toBeNull();
    }
  });
});
