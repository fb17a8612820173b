import { describe, expect, test } from "bun:test";
import {
  AddrType,
  Command,
  MAX_AUTH_REQUEST_BYTES,
  MAX_GREETING_BYTES,
  MAX_REQUEST_BYTES,
  Method,
  type ParseResult,
  Reply,
  buildAuthReply,
  buildAuthRequest,
  buildGreeting,
  buildMethodSelection,
  buildReply,
  buildRequest,
  parseAuthReply,
  parseAuthRequest,
  parseGreeting,
  parseMethodSelection,
  parseReply,
  parseRequest,
  replyText,
} from "../../../lib/socks/protocol.ts";
import { prng } from "../../fuzz/rng.ts";
import { checkSocksParser, randomSocksBuffer, SOCKS_PARSERS } from "../../fuzz/socks.ts";

const b = (...bytes: number[]) => Uint8Array.from(bytes);
const ascii = (s: string) => Array.from(new TextEncoder().encode(s));
const port = (p: number) => [p >> 8, p & 0xff];

describe("greeting (RFC 1928 §3)", () => {
  test("a valid greeting with one method", () => {
    expect(parseGreeting(b(5, 1, 0))).toEqual({ status: "ok", value: { methods: [0] }, consumed: 3 });
  });

  test("255 methods is the maximum and parses", () => {
    const methods = Array.from({ length: 255 }, (_, i) => i);
    const r = parseGreeting(b(5, 255, ...methods, 9, 9, 9));
    expect(r).toEqual({ status: "ok", value: { methods }, consumed: MAX_GREETING_BYTES });
  });

  test("255 methods announced, 254 present: incomplete", () => {
    expect(parseGreeting(b(5, 255, ...new Array(254).fill(0)))).toEqual({ status: "incomplete" });
  });

  test("empty and one-byte buffers are incomplete", () => {
    expect(parseGreeting(b())).toEqual({ status: "incomplete" });
    expect(parseGreeting(b(5))).toEqual({ status: "incomplete" });
  });

  test("zero methods is answered with 0xFF", () => {
    const r = parseGreeting(b(5, 0));
    expect(r.status).toBe("error");
    expect(r.status === "error" && r.reply).toBe(Method.NO_ACCEPTABLE);
  });

  test.each([
    ["SOCKS4", [4, 1, 0, 80, 127, 0, 0, 1, 0]],
    ["TLS ClientHello", [0x16, 0x03, 0x01, 0x00, 0xa5]],
    ["HTTP", ascii("GET / HTTP/1.1\r\n")],
    ["zero byte", [0]],
    ["0xff", [0xff, 0xff]],
  ])("wrong version byte (%s) is an error with no reply", (_name, bytes) => {
    const r = parseGreeting(b(...bytes));
    expect(r.status).toBe("error");
    expect(r.status === "error" && r.reply).toBeUndefined();
  });
});

describe("username/password (RFC 1929 §2)", () => {
  test("valid request", () => {
    const r = parseAuthRequest(b(1, 1, ...ascii("u"), 5, ...ascii("token")));
    expect(r).toEqual({ status: "ok", value: { username: "u", password: "token" }, consumed: 9 });
  });

  test("maximum lengths (255 + 255)", () => {
    const u = "a".repeat(255);
    const p = "b".repeat(255);
    const r = parseAuthRequest(b(1, 255, ...ascii(u), 255, ...ascii(p), 7));
    expect(r).toEqual({ status: "ok", value: { username: u, password: p }, consumed: MAX_AUTH_REQUEST_BYTES });
  });

  test("zero-length fields parse (the verifier decides)", () => {
    expect(parseAuthRequest(b(1, 0, 0))).toEqual({ status: "ok", value: { username: "", password: "" }, consumed: 3 });
  });

  test("truncated at every point is incomplete", () => {
    const full = b(1, 3, ...ascii("bob"), 4, ...ascii("pass"));
    for (let i = 0; i < full.length; i++) expect(parseAuthRequest(full.subarray(0, i))).toEqual({ status: "incomplete" });
  });

  test("wrong sub-negotiation version", () => {
    expect(parseAuthRequest(b(5, 1, 0)).status).toBe("error");
  });

  test("invalid UTF-8 does not throw", () => {
    const r = parseAuthRequest(b(1, 2, 0xff, 0xfe, 1, 0xc3));
    expect(r.status).toBe("ok");
  });
});

describe("request (RFC 1928 §4)", () => {
  test("CONNECT to IPv4", () => {
    expect(parseRequest(b(5, 1, 0, 1, 10, 0, 0, 7, ...port(8080)))).toEqual({
      status: "ok",
      value: { command: Command.CONNECT, addrType: AddrType.IPV4, host: "10.0.0.7", port: 8080 },
      consumed: 10,
    });
  });

  test("CONNECT to IPv6 gives the RFC 5952 form", () => {
    const addr = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const r = parseRequest(b(5, 1, 0, 4, ...addr, ...port(443)));
    expect(r).toEqual({ status: "ok", value: { command: 1, addrType: AddrType.IPV6, host: "2001:db8::1", port: 443 }, consumed: 22 });
  });

  test("CONNECT to a domain name", () => {
    const r = parseRequest(b(5, 1, 0, 3, 9, ...ascii("app.local"), ...port(80)));
    expect(r).toEqual({ status: "ok", value: { command: 1, addrType: AddrType.DOMAIN, host: "app.local", port: 80 }, consumed: 16 });
  });

  test("255-byte hostname is the maximum request", () => {
    const name = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}`;
    expect(name.length).toBe(255);
    const r = parseRequest(b(5, 1, 0, 3, 255, ...ascii(name), ...port(1), 0xaa));
    expect(r.status).toBe("ok");
    expect(r.status === "ok" && r.consumed).toBe(MAX_REQUEST_BYTES);
    expect(r.status === "ok" && r.value.host).toBe(name);
  });

  test("zero-length hostname is refused with 0x04", () => {
    const r = parseRequest(b(5, 1, 0, 3, 0, 0, 80));
    expect(r).toMatchObject({ status: "error", reply: Reply.HOST_UNREACHABLE });
  });

  test.each([
    ["NUL", [0x61, 0x00, 0x62]],
    ["space", ascii("a b")],
    ["newline (log injection)", ascii("a\nb")],
    ["percent", ascii("a%2e")],
    ["non-ASCII", [0x61, 0xc3, 0xa9]],
  ])("hostname with %s is refused", (_n, name) => {
    const r = parseRequest(b(5, 1, 0, 3, name.length, ...name, 0, 80));
    expect(r).toMatchObject({ status: "error", reply: Reply.HOST_UNREACHABLE });
  });

  test("BIND and UDP ASSOCIATE parse so the server can answer 0x07", () => {
    for (const cmd of [Command.BIND, Command.UDP_ASSOCIATE, 0x09]) {
      const r = parseRequest(b(5, cmd, 0, 1, 0, 0, 0, 0, 0, 0));
      expect(r.status === "ok" && r.value.command).toBe(cmd);
    }
  });

  test.each([0, 2, 5, 0xff])("address type %d is refused with 0x08", (atyp) => {
    expect(parseRequest(b(5, 1, 0, atyp, 1, 2, 3, 4, 0, 80))).toMatchObject({ status: "error", reply: Reply.ADDRESS_TYPE_NOT_SUPPORTED });
  });

  test("wrong version byte in a request", () => {
    expect(parseRequest(b(4, 1, 0, 1, 1, 2, 3, 4, 0, 80))).toMatchObject({ status: "error", reply: Reply.GENERAL_FAILURE });
  });

  test("truncated requests of each address type are incomplete at every length", () => {
    const reqs = [
      b(5, 1, 0, 1, 1, 2, 3, 4, 0, 80),
      b(5, 1, 0, 4, ...new Array(16).fill(1), 0, 80),
      b(5, 1, 0, 3, 3, ...ascii("abc"), 0, 80),
    ];
    for (const full of reqs) {
      for (let i = 0; i < full.length; i++) expect(parseRequest(full.subarray(0, i))).toEqual({ status: "incomplete" });
      expect(parseRequest(full).status).toBe("ok");
    }
  });
});

describe("builders", () => {
  test("method selection and auth status", () => {
    expect(buildMethodSelection(Method.USERNAME_PASSWORD)).toEqual(b(5, 2));
    expect(buildMethodSelection(Method.NO_ACCEPTABLE)).toEqual(b(5, 0xff));
    expect(buildAuthReply(true)).toEqual(b(1, 0));
    expect(buildAuthReply(false)).toEqual(b(1, 1));
  });

  test.each(Object.entries(Reply))("reply %s", (_name, code) => {
    const bytes = buildReply(code);
    expect(bytes).toEqual(b(5, code, 0, 1, 0, 0, 0, 0, 0, 0));
    expect(parseReply(bytes)).toEqual({ status: "ok", value: { reply: code, bound: { host: "0.0.0.0", port: 0 }, addrType: AddrType.IPV4 }, consumed: 10 });
    expect(replyText(code)).not.toContain("unassigned");
  });

  test("reply with a bound IPv4, IPv6 and name", () => {
    expect(buildReply(0, { host: "192.0.2.1", port: 1080 })).toEqual(b(5, 0, 0, 1, 192, 0, 2, 1, 4, 56));
    const v6 = parseReply(buildReply(0, { host: "::1", port: 2 }));
    expect(v6.status === "ok" && v6.value).toEqual({ reply: 0, bound: { host: "::1", port: 2 }, addrType: AddrType.IPV6 });
    const name = parseReply(buildReply(0, { host: "relay.example", port: 3 }));
    expect(name.status === "ok" && name.value.bound).toEqual({ host: "relay.example", port: 3 });
  });

  test("client-side builders round-trip through the server parsers", () => {
    expect(parseGreeting(buildGreeting([0, 2]))).toEqual({ status: "ok", value: { methods: [0, 2] }, consumed: 4 });
    expect(parseAuthRequest(buildAuthRequest("u", "tok"))).toEqual({ status: "ok", value: { username: "u", password: "tok" }, consumed: 7 });
    const r = parseRequest(buildRequest(Command.CONNECT, "[2001:db8::2]", 22));
    expect(r.status === "ok" && r.value).toEqual({ command: 1, addrType: AddrType.IPV6, host: "2001:db8::2", port: 22 });
    expect(parseMethodSelection(b(5, 0))).toEqual({ status: "ok", value: { method: 0 }, consumed: 2 });
    expect(parseAuthReply(b(1, 1))).toEqual({ status: "ok", value: { success: false }, consumed: 2 });
  });

  test("builders refuse out-of-range input instead of emitting bad frames", () => {
    expect(() => buildReply(256)).toThrow(RangeError);
    expect(() => buildRequest(1, "x".repeat(256), 80)).toThrow(RangeError);
    expect(() => buildRequest(1, "x", 70000)).toThrow(RangeError);
    expect(() => buildGreeting([])).toThrow(RangeError);
    expect(() => buildAuthRequest("u".repeat(256), "p")).toThrow(RangeError);
  });
});

describe("fuzz: random buffers never throw and never read past the message", () => {
  // The invariants live in test/fuzz/socks.ts, which `npm run fuzz` runs a million times;
  // this fixed slice keeps them in the unit suite.
  test.each(SOCKS_PARSERS.slice(0, 3))("%s: 5,000 random buffers", (_name, parse, max) => {
    const rnd = prng(0x50c4e5);
    const counts = { ok: 0, error: 0, incomplete: 0 };
    for (let i = 0; i < 5000; i++) counts[checkSocksParser(parse, max, randomSocksBuffer(rnd), rnd)]++;
    // The generator must actually reach every outcome, or the test proves little.
    expect(counts.ok).toBeGreaterThan(100);
    expect(counts.error).toBeGreaterThan(100);
    expect(counts.incomplete).toBeGreaterThan(100);
  });
});
