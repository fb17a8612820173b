import { describe, expect, test } from "bun:test";
import {
  badRequestResponse,
  forbiddenResponse,
  headerTooLargeResponse,
  httpsRedirectResponse,
  httpsUrl,
  notFoundResponse,
  rawResponse,
  redirectResponse,
  tunnelOfflineResponse,
  unauthorizedResponse,
} from "../../../lib/http/responses.ts";

interface Parsed {
  status: number;
  reason: string;
  headers: Map<string, string>;
  body: Buffer;
}

/** A strict parse of one raw response: CRLF lines, unique headers, body length equal to Content-Length. */
function parse(bytes: Uint8Array): Parsed {
  const buf = Buffer.from(bytes);
  const end = buf.indexOf("\r\n\r\n");
  expect(end).toBeGreaterThan(0);
  const lines = buf.toString("latin1", 0, end).split("\r\n");
  const m = /^HTTP\/1\.1 (\d{3}) ([^\r\n]+)$/.exec(lines[0]);
  expect(m).not.toBeNull();
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const hm = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ([^\r\n]*)$/.exec(line);
    expect(hm).not.toBeNull();
    const name = hm![1].toLowerCase();
    expect(headers.has(name)).toBe(false);
    headers.set(name, hm![2]);
  }
  const body = buf.subarray(end + 4);
  expect(Number(headers.get("content-length"))).toBe(body.length);
  expect(headers.get("connection")).toBe("close");
  return { status: Number(m![1]), reason: m![2], headers, body };
}

describe("raw responses", () => {
  test("each builder gives a well-formed response with an HTML body", () => {
    const cases: [Uint8Array, number][] = [
      [notFoundResponse("app.example.test"), 404],
      [notFoundResponse(null), 404],
      [tunnelOfflineResponse("app.example.test"), 502],
      [tunnelOfflineResponse("app.example.test", 503), 503],
      [badRequestResponse(), 400],
      [headerTooLargeResponse(), 431],
      [forbiddenResponse(), 403],
      [redirectResponse("https://a.test/x"), 301],
      [unauthorizedResponse("Private"), 401],
    ];
    for (const [bytes, status] of cases) {
      const r = parse(bytes);
      expect(r.status).toBe(status);
      expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(r.body.toString()).toContain(`<title>${status} ${r.reason}</title>`);
    }
    expect(parse(tunnelOfflineResponse("x", 503)).headers.get("retry-after")).toBe("30");
  });

  test("reflected names are HTML-escaped", () => {
    const body = parse(notFoundResponse("<script>x</script>")).body.toString();
    expect(body).not.toContain("<script>");
    expect(body).toContain("&#60;script&#62;");
  });

  test("UTF-8 bodies are counted in bytes", () => {
    const r = parse(rawResponse(200, { body: "héllo ✓", contentType: "text/plain; charset=utf-8" }));
    expect(r.body.toString()).toBe("héllo ✓");
  });

  test("HEAD answers keep Content-Length but carry no body", () => {
    const full = parse(notFoundResponse("a.test"));
    const head = Buffer.from(notFoundResponse("a.test", { head: true }));
    expect(head.toString("latin1")).toEndWith("\r\n\r\n");
    expect(head.toString("latin1")).toContain(`Content-Length: ${full.body.length}\r\n`);
  });

  test("HTTPS redirect keeps host and path, adds a non-default port, brackets IPv6", () => {
    expect(httpsUrl("a.test", "/p?q=1")).toBe("https://a.test/p?q=1");
    expect(httpsUrl("a.test", "/", 8443)).toBe("https://a.test:8443/");
    expect(httpsUrl("2001:db8::1", "*")).toBe("https://[2001:db8::1]/");
    const r = parse(httpsRedirectResponse("a.test", "/login?next=/", 443));
    expect(r.status).toBe(301);
    expect(r.headers.get("location")).toBe("https://a.test/login?next=/");
  });

  test("401 carries a Basic challenge with the realm quoted", () => {
    const r = parse(unauthorizedResponse('My "site"'));
    expect(r.headers.get("www-authenticate")).toBe('Basic realm="My \\"site\\"", charset="UTF-8"');
  });

  test("header values with line breaks are refused", () => {
    expect(() => redirectResponse("https://a.test/\r\nSet-Cookie: x=1")).toThrow();
  });

  test("a real HTTP client reads them (fetch against a raw socket server)", async () => {
    const responses = [notFoundResponse("a.test"), unauthorizedResponse("Realm"), redirectResponse("https://a.test/"), tunnelOfflineResponse("a.test", 503)];
    let next = 0;
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          s.end(responses[next++]);
        },
      },
    });
    try {
      const got: [number, string | null][] = [];
      for (let i = 0; i < responses.length; i++) {
        const res = await fetch(`http://127.0.0.1:${server.port}/`, { redirect: "manual" });
        const text = await res.text();
        expect(text).toContain("</html>");
        got.push([res.status, res.headers.get("www-authenticate") ?? res.headers.get("location") ?? res.headers.get("retry-after")]);
      }
      expect(got).toEqual([
        [404, null],
        [401, 'Basic realm="Realm", charset="UTF-8"'],
        [301, "https://a.test/"],
        [503, "30"],
      ]);
    } finally {
      server.stop(true);
    }
  });
});
