import { describe, expect, test } from "bun:test";
import { buildForwardedHead, isEmptyForward } from "../../../lib/http/head-rewrite.ts";
import { parseRequestHead } from "../../../lib/http/request-head.ts";
import { enc, run } from "./request-stream-harness.ts";

const parse = (s: string) => parseRequestHead(enc(s), 0, s.length);

describe("head edits", () => {
  const base = "GET / HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 10.0.0.1\r\nCookie: a=1\r\nx-forwarded-for: 10.0.0.2\r\nX-Forwarded-Host: evil.test\r\n\r\n";

  test("X-Forwarded-For values are merged and the remote appended; Proto and Host replaced", () => {
    const r = run(base);
    expect(r.forwarded).toBe(
      "GET / HTTP/1.1\r\nHost: app.test\r\nCookie: a=1\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2, 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: app.test\r\n\r\n",
    );
  });

  test("Host rewrite, header removal and setting; other headers keep order and case", () => {
    const r = run(base, [], () => ({
      action: "forward",
      host: "internal.local:8080",
      removeHeaders: ["cookie"],
      setHeaders: [["X-Spokes-Tunnel", "t1"]],
      forwardedHost: "public.test",
    }));
    expect(r.forwarded).toBe(
      "GET / HTTP/1.1\r\nHost: internal.local:8080\r\nX-Forwarded-For: 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\nX-Forwarded-Host: public.test\r\nX-Spokes-Tunnel: t1\r\n\r\n",
    );
  });

  test("Host rewrite turns an absolute-form target into origin-form", () => {
    const r = run("GET http://App.Test/p?q HTTP/1.1\r\nHost: app.test\r\n\r\n", [], () => ({ action: "forward", host: "backend" }));
    expect(r.heads[0].host).toBe("app.test");
    expect(r.forwarded).toBe("GET /p?q HTTP/1.1\r\nHost: backend\r\n\r\n");
  });
});

describe("buildForwardedHead", () => {
  test("a line break in a Host rewrite or a set header is refused, not sent", () => {
    const head = parse("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    expect(() => buildForwardedHead(head, { action: "forward", host: "b\r\nX-Evil: 1" })).toThrow("line break");
    expect(() => buildForwardedHead(head, { action: "forward", setHeaders: [["X-A", "1\nX-Evil: 1"]] })).toThrow("line break");
  });

  test("CONNECT and OPTIONS * keep their target under a Host rewrite", () => {
    const connect = parse("CONNECT db.test:5432 HTTP/1.1\r\nHost: db.test:5432\r\n\r\n");
    expect(buildForwardedHead(connect, { action: "forward", host: "x" }).toString("latin1")).toStartWith("CONNECT db.test:5432 HTTP/1.1\r\n");
    const star = parse("OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n");
    expect(buildForwardedHead(star, { action: "forward", host: "x" }).toString("latin1")).toBe("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
  });

  test("an absolute-form target without a path becomes /", () => {
    const head = parse("GET http://a.test?q=1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    expect(buildForwardedHead(head, { action: "forward", host: "b" }).toString("latin1")).toStartWith("GET /?q=1 HTTP/1.1\r\n");
  });

  test("isEmptyForward: only a decision without edits forwards the received bytes", () => {
    expect(isEmptyForward({ action: "forward" })).toBe(true);
    expect(isEmptyForward({ action: "forward", removeHeaders: [], setHeaders: [], forwardedHost: false })).toBe(true);
    expect(isEmptyForward({ action: "forward", forwardedProto: "http" })).toBe(false);
  });
});
