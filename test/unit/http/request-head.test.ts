import { describe, expect, test } from "bun:test";
import { parseRequestHead, RequestParseError } from "../../../lib/http/request-head.ts";
import { enc, run } from "./request-stream-harness.ts";

/** Parses a complete head given as text (it must end with the empty line). */
function parseError(input: string): RequestParseError {
  const b = enc(input);
  const end = b.indexOf("\r\n\r\n");
  expect(end).toBeGreaterThan(0);
  try {
    parseRequestHead(b, 0, end + 4);
  } catch (err) {
    if (err instanceof RequestParseError) return err;
    throw err;
  }
  throw new Error(`parsed: ${JSON.stringify(input)}`);
}

describe("routing host and connection flags", () => {
  test("the absolute-form authority wins over Host for routing", () => {
    const r = run("GET http://b.test:81/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    expect([r.heads[0].host, r.heads[0].port]).toEqual(["b.test", 81]);
  });

  test("HTTP/1.0 without Host, keep-alive flags, IPv6 Host, OPTIONS *", () => {
    const r = run(
      "GET / HTTP/1.0\r\n\r\n" +
        "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: A.test.\r\n\r\n" +
        "GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\nConnection: close\r\n\r\n" +
        "OPTIONS * HTTP/1.1\r\nHost: x.test\r\n\r\n",
    );
    expect(r.ends).toEqual([]);
    expect(r.heads.map((h) => [h.host, h.port, h.keepAlive])).toEqual([
      [null, null, false],
      ["a.test", null, true],
      ["2001:db8::1", 8443, false],
      ["x.test", null, true],
    ]);
  });

  test("a head inside a larger buffer is read from its offsets only", () => {
    const text = "xxGET /p HTTP/1.1\r\nHost: A.Test:81\r\nContent-Length: 3\r\n\r\nabc";
    const b = enc(text);
    const start = 2;
    const end = text.indexOf("\r\n\r\n") + 4;
    const head = parseRequestHead(b, start, end, 4);
    expect([head.method, head.target, head.host, head.port, head.body, head.contentLength, head.index, head.size]).toEqual([
      "GET", "/p", "a.test", 81, "length", 3, 4, end - start,
    ]);
    expect(head.get("host")).toBe("A.Test:81");
    expect(head.getAll("content-length")).toEqual(["3"]);
  });
});

describe("request smuggling and malformed heads (RFC 9112 §6.3, §11.2)", () => {
  const H = "POST / HTTP/1.1\r\nHost: a.test\r\n";
  const cases: [string, string, string, number][] = [
    ["Content-Length and chunked", H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "badFraming", 400],
    ["chunked not last", H + "Transfer-Encoding: chunked, gzip\r\n\r\n", "badFraming", 400],
    ["chunked twice", H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "badFraming", 400],
    ["unknown coding only", H + "Transfer-Encoding: xchunked\r\n\r\n", "badFraming", 400],
    ["TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "badFraming", 400],
    ["differing Content-Lengths", H + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "badFraming", 400],
    ["Content-Length list", H + "Content-Length: 5, 6\r\n\r\n", "badFraming", 400],
    ["signed Content-Length", H + "Content-Length: +5\r\n\r\n", "badFraming", 400],
    ["negative Content-Length", H + "Content-Length: -1\r\n\r\n", "badFraming", 400],
    ["hex Content-Length", H + "Content-Length: 0x10\r\n\r\n", "badFraming", 400],
    ["empty Content-Length", H + "Content-Length: \r\n\r\n", "badFraming", 400],
    ["huge Content-Length", H + "Content-Length: 99999999999999999\r\n\r\n", "badFraming", 400],
    ["space before colon", H + "Content-Length : 5\r\n\r\nhello", "badRequest", 400],
    ["obs-fold", H + "X-A: 1\r\n  continued\r\n\r\n", "badRequest", 400],
    ["bare LF in a header line", H + "X-A: 1\nContent-Length: 5\r\n\r\n", "badRequest", 400],
    ["bare CR in a value", H + "X-A: 1\rContent-Length: 5\r\n\r\n", "badRequest", 400],
    ["NUL in a value", H + "X-A: 1\0\r\n\r\n", "badRequest", 400],
    ["two Host headers", "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", "badHost", 400],
    ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "badHost", 400],
    ["invalid Host", "GET / HTTP/1.1\r\nHost: a b.test\r\n\r\n", "badHost", 400],
    ["user info in target", "GET http://u@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "badRequest", 400],
    ["bad target", "GET a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "badRequest", 400],
    ["two spaces", "GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n", "badRequest", 400],
    ["lowercase version", "GET / http/1.1\r\nHost: a.test\r\n\r\n", "badRequest", 400],
    ["HTTP/1.2", "GET / HTTP/1.2\r\nHost: a.test\r\n\r\n", "unsupportedVersion", 505],

  ];
  for (const [name, input, code, status] of cases) {
    test(name, () => {
      const err = parseError(input);
      expect([err.code as string, err.status]).toEqual([code, status]);
    });
  }

  test("HTTP/2 prior-knowledge preface has no HTTP/1 status", () => {
    expect([parseError("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").code, parseError("PRI * HTTP/2.0\r\n\r\n").status]).toEqual(["http2", 0]);
  });
});
