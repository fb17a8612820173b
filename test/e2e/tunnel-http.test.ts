// HTTP and HTTPS through a real tunnel: dist/spokes + dist/pktriot, curl, fetch and a
// WebSocket client on one side, Bun.serve upstreams in this process on the other.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeSelfSignedCert, type TestCert } from "../unit/client/fake-server.ts";
import { freePort, tempDir, waitFor } from "../helpers.ts";
import { configureClient, curl, httpUpstream, mustRun, sha256, startServer, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";

let server: TestServer;
let client: TestClient;
let ownCert: TestCert;
let passCert: TestCert;
let webroot: string;
/** Requests the upstream saw, by Host header. */
const seen = new Map<string, number>();
/** Lock-step for the streaming test: the upstream sends chunk n+1 only after the test saw chunk n. */
let streamAck: (() => void) | undefined;

beforeAll(async () => {
  server = await startServer();
  const app = httpUpstream({
    async fetch(req, srv) {
      const url = new URL(req.url);
      // curl sends the port of a non-default URL in Host; the rule's name is what counts here.
      const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
      seen.set(host, (seen.get(host) ?? 0) + 1);
      if (url.pathname === "/ws") return srv.upgrade(req, { data: undefined }) ? undefined : new Response("upgrade failed", { status: 400 });
      // Held a little, so many requests are in flight at once.
      if (url.pathname.startsWith("/slow/")) await Bun.sleep(100);
      if (url.pathname === "/upload") {
        const h = new Bun.CryptoHasher("sha256");
        let bytes = 0;
        for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
          bytes += chunk.length;
          h.update(chunk);
        }
        return Response.json({ bytes, sha256: h.digest("hex") });
      }
      if (url.pathname === "/stream") {
        let n = 0;
        const body = new ReadableStream({
          type: "direct",
          async pull(ctrl: { write(s: string): void; flush(): void; close(): void }) {
            for (n = 0; n < 5; n++) {
              const acked = new Promise<void>((res) => (streamAck = res));
              ctrl.write(`chunk-${n};`);
              ctrl.flush();
              await acked;
            }
            ctrl.close();
          },
        } as unknown as UnderlyingDefaultSource<Uint8Array>);
        return new Response(body, { headers: { "content-type": "text/plain" } });
      }
      return Response.json({
        host,
        path: url.pathname + url.search,
        method: req.method,
        xff: req.headers.get("x-forwarded-for"),
        proto: req.headers.get("x-forwarded-proto"),
        authorization: req.headers.get("authorization"),
      });
    },
    websocket: {
      message(ws, msg) {
        ws.send(typeof msg === "string" ? `echo:${msg}` : msg);
      },
    },
  });

  const certDir = tempDir();
  ownCert = makeSelfSignedCert(certDir, "own.example.test", "own");
  webroot = tempDir();
  writeFileSync(join(webroot, "index.html"), "<h1>webroot index</h1>");
  mkdirSync(join(webroot, "sub"));
  writeFileSync(join(webroot, "sub", "file.txt"), "a file in a folder");

  // An upstream that speaks HTTPS itself, with a certificate nobody trusts (--insecure-upstream).
  const upstreamCert = makeSelfSignedCert(certDir, "upstream.internal", "upstream");
  const tlsApp = httpUpstream({
    tls: { cert: upstreamCert.cert, key: upstreamCert.key },
    fetch: (req) => Response.json({ tlsUpstream: true, host: req.headers.get("host"), xff: req.headers.get("x-forwarded-for"), proto: req.headers.get("x-forwarded-proto") }),
  });
  // An upstream with its own certificate for its public name (--tls: passed through untouched).
  passCert = makeSelfSignedCert(certDir, "pass.spokes.test", "pass");
  const passApp = httpUpstream({
    tls: { cert: passCert.cert, key: passCert.key },
    fetch: (req) => Response.json({ passThrough: true, host: req.headers.get("host"), xff: req.headers.get("x-forwarded-for"), proto: req.headers.get("x-forwarded-proto") }),
  });

  client = await configureClient(server);
  const p = String(app.port);
  const rules: string[][] = [
    ["--domain", "app.spokes.test", "--http", p],
    ["--domain", "own.example.test", "--http", p, "--ca", ownCert.certPath, "--key", ownCert.keyPath],
    ["--domain", "web.spokes.test", "--webroot", webroot],
    ["--domain", "redir.spokes.test", "--http", p, "--redirect"],
    ["--domain", "pw.spokes.test", "--http", p, "--password", "open sesame"],
    ["--domain", "basic.spokes.test", "--http", p, "--basic-user", "alice", "--basic-password", "wonderland"],
    ["--domain", "fw.spokes.test", "--http", p, "--drop", "127.0.0.1/32"],
    ["--domain", "tlsup.spokes.test", "--https-upstream", String(tlsApp.port), "--insecure-upstream"],
    ["--domain", "tlsstrict.spokes.test", "--https-upstream", String(tlsApp.port)],
    ["--domain", "pass.spokes.test", "--tls", String(passApp.port)],
    // Nothing listens there.
    ["--domain", "down.spokes.test", "--http", String(await freePort())],
  ];
  for (const r of rules) await mustRun(client, ["tunnel", "http", "add", ...r]);
  await client.start();
});

afterAll(stopAll);

const body = (r: { body: string }) => JSON.parse(r.body) as Record<string, string | null>;

describe("plain routing", () => {
  test("the server's own domain over plain HTTP redirects to HTTPS; over HTTPS it serves the dashboard", async () => {
    const plain = await curl(server, "spokes.test", "/login?x=1");
    expect(plain.status).toBe(301);
    expect(plain.headers.get("location")).toBe(`https://spokes.test:${server.httpsPort}/login?x=1`);
    const secure = await curl(server, "spokes.test", "/login", { https: true });
    expect(secure.status).toBe(200);
  });

  test("HTTP by Host header reaches the upstream with X-Forwarded-For and X-Forwarded-Proto http", async () => {
    const r = await curl(server, "app.spokes.test", "/hello?x=1");
    expect(r.status).toBe(200);
    expect(body(r)).toMatchObject({ host: "app.spokes.test", path: "/hello?x=1", xff: "127.0.0.1", proto: "http" });
  });

  test("HTTPS for a name under the server's certificate is terminated by the server (X-Forwarded-Proto https)", async () => {
    const r = await curl(server, "app.spokes.test", "/tls", { https: true });
    expect(r.exit).toBe(0);
    expect(r.status).toBe(200);
    expect(body(r)).toMatchObject({ host: "app.spokes.test", path: "/tls", xff: "127.0.0.1", proto: "https" });
    // The rule's own certificate is not what the server presents for it.
    const wrongCa = await curl(server, "app.spokes.test", "/tls", { https: true, ca: ownCert.certPath });
    expect(wrongCa.exit).toBe(60);
  });

  test("HTTPS for a rule with its own certificate passes through; the client terminates with that certificate", async () => {
    const r = await curl(server, "own.example.test", "/own", { https: true, ca: ownCert.certPath });
    expect(r.exit).toBe(0);
    expect(r.status).toBe(200);
    expect(body(r)).toMatchObject({ host: "own.example.test", path: "/own", xff: "127.0.0.1", proto: "https" });
    // The server's certificate does not verify it: the TLS really ended at the client.
    const serverCa = await curl(server, "own.example.test", "/own", { https: true });
    expect(serverCa.exit).toBe(60);
  });

  test("--tls passes the visitor's TLS through: curl sees the upstream's own certificate, no proxy headers", async () => {
    const r = await curl(server, "pass.spokes.test", "/", { https: true, ca: passCert.certPath });
    expect(r.exit).toBe(0);
    expect(r.status).toBe(200);
    // Nobody between curl and the upstream decrypted: no X-Forwarded-* were added.
    expect(JSON.parse(r.body)).toEqual({ passThrough: true, host: `pass.spokes.test:${server.httpsPort}`, xff: null, proto: null });
    // The server's certificate (which covers *.spokes.test) is not what curl got.
    const serverCa = await curl(server, "pass.spokes.test", "/", { https: true });
    expect(serverCa.exit).toBe(60);
  });

  test("an upstream that speaks HTTPS itself, re-encrypted (--https-upstream with --insecure-upstream)", async () => {
    const r = await curl(server, "tlsup.spokes.test", "/");
    expect(r.status).toBe(200);
    expect(body(r)).toMatchObject({ tlsUpstream: true, host: "tlsup.spokes.test", xff: "127.0.0.1", proto: "http" });
    const s = await curl(server, "tlsup.spokes.test", "/", { https: true });
    expect(s.status).toBe(200);
    expect(body(s)).toMatchObject({ tlsUpstream: true, proto: "https" });
    // Without --insecure-upstream the untrusted certificate is refused: 502.
    const strict = await curl(server, "tlsstrict.spokes.test", "/");
    expect(strict.status).toBe(502);
  });

  test("the same rule over plain HTTP", async () => {
    const r = await curl(server, "own.example.test", "/plain");
    expect(r.status).toBe(200);
    expect(body(r)).toMatchObject({ host: "own.example.test", path: "/plain", proto: "http" });
  });

  test("an upstream that refuses connections gets a 502 page, not a reset", async () => {
    const r = await curl(server, "down.spokes.test", "/");
    expect(r.exit).toBe(0);
    expect(r.status).toBe(502);
    const s = await curl(server, "down.spokes.test", "/", { https: true });
    expect(s.status).toBe(502);
  });

  test("100 concurrent requests, each answered with its own response", async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const res = await fetch(`http://127.0.0.1:${server.httpPort}/slow/${i}`, { headers: { Host: "app.spokes.test" } });
        return { status: res.status, body: (await res.json()) as { path: string } };
      }),
    );
    results.forEach((r, i) => expect(r).toEqual({ status: 200, body: expect.objectContaining({ path: `/slow/${i}` }) }));
  });

  test("Host is matched without case, port or trailing dot", async () => {
    for (const host of ["APP.Spokes.Test", "app.spokes.test:80", "app.spokes.test.", `app.spokes.test:${server.httpPort}`]) {
      const r = await curl(server, host, "/variant");
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
      expect(body(r).path).toBe("/variant");
    }
  });

  test("an unknown host gets a 404 page", async () => {
    const r = await curl(server, "nobody.spokes.test");
    expect(r.status).toBe(404);
    expect(r.body).toContain("nobody.spokes.test");
  });

  test("keep-alive: each request on one connection goes to its own Host", async () => {
    const second = ["--next", "-sS", "-w", "\nnew connections: %{num_connects}", "-H", "Host: web.spokes.test", `http://127.0.0.1:${server.httpPort}/sub/file.txt`];
    const r = await curl(server, "app.spokes.test", "/one", { after: second });
    expect(r.status).toBe(200);
    expect(r.body).toContain('"path":"/one"');
    // The second request reached the webroot rule, not the upstream of the first one (the
    // server ends the connection rather than send it down the first request's stream; curl
    // then retries on a new connection).
    expect(r.body).toMatch(/\}a file in a folder\nnew connections: [01]$/);
    expect(seen.get("web.spokes.test")).toBeUndefined();
  });
});

describe("rule features", () => {
  test("webroot serves files, index.html for a folder, and nothing outside the root", async () => {
    const index = await curl(server, "web.spokes.test", "/");
    expect(index.status).toBe(200);
    expect(index.body).toBe("<h1>webroot index</h1>");
    const file = await curl(server, "web.spokes.test", "/sub/file.txt", { https: true });
    expect(file.status).toBe(200);
    expect(file.body).toBe("a file in a folder");
    expect((await curl(server, "web.spokes.test", "/missing.txt")).status).toBe(404);
    const escape = await curl(server, "web.spokes.test", "/../../../../etc/passwd", { args: ["--path-as-is"] });
    expect(escape.body).not.toContain("root:");
  });

  test("redirect: HTTP answers 301 to the HTTPS port, HTTPS reaches the upstream", async () => {
    const r = await curl(server, "redir.spokes.test", "/a/b?c=d");
    expect(r.status).toBe(301);
    expect(r.headers.get("location")).toBe(`https://redir.spokes.test:${server.httpsPort}/a/b?c=d`);
    const s = await curl(server, "redir.spokes.test", "/a/b?c=d", { https: true });
    expect(s.status).toBe(200);
    expect(body(s)).toMatchObject({ path: "/a/b?c=d", proto: "https" });
  });

  test("password: login page, wrong password refused, POST /__pktriot/login sets a cookie that opens the site", async () => {
    const before = seen.get("pw.spokes.test") ?? 0;
    const page = await curl(server, "pw.spokes.test", "/secret");
    expect(page.status).toBe(401);
    expect(page.body).toContain('action="/__pktriot/login"');
    expect(page.body).toContain('type="password"');

    const wrong = await curl(server, "pw.spokes.test", "/__pktriot/login", { args: ["--data-urlencode", "password=nope", "--data-urlencode", "next=/secret"] });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const login = await curl(server, "pw.spokes.test", "/__pktriot/login", { args: ["--data-urlencode", "password=open sesame", "--data-urlencode", "next=/secret"] });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/secret");
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    expect(cookie).toMatch(/^pktriot_session=/);
    expect(seen.get("pw.spokes.test") ?? 0).toBe(before);

    const inside = await curl(server, "pw.spokes.test", "/secret", { args: ["-H", `Cookie: ${cookie}`] });
    expect(inside.status).toBe(200);
    expect(body(inside)).toMatchObject({ host: "pw.spokes.test", path: "/secret" });
    // The session is bound to its site.
    const forged = await curl(server, "pw.spokes.test", "/secret", { args: ["-H", `Cookie: ${cookie.replace(/.$/, (c) => (c === "A" ? "B" : "A"))}`] });
    expect(forged.status).toBe(401);
  });

  test("basic auth: 401 without or with wrong credentials, 200 with the right ones", async () => {
    const none = await curl(server, "basic.spokes.test", "/");
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Basic /);
    expect((await curl(server, "basic.spokes.test", "/", { args: ["-u", "alice:wrong"] })).status).toBe(401);
    expect((await curl(server, "basic.spokes.test", "/", { args: ["-u", "bob:wonderland"] })).status).toBe(401);
    const ok = await curl(server, "basic.spokes.test", "/", { args: ["-u", "alice:wonderland"] });
    expect(ok.status).toBe(200);
    expect(body(ok).host).toBe("basic.spokes.test");
    const okTls = await curl(server, "basic.spokes.test", "/", { https: true, args: ["-u", "alice:wonderland"] });
    expect(okTls.status).toBe(200);
  });

  test("firewall drop: the visitor gets no response and the upstream never sees the request", async () => {
    const r = await curl(server, "fw.spokes.test", "/");
    expect(r.status).toBe(0);
    expect(r.exit).not.toBe(0);
    const s = await curl(server, "fw.spokes.test", "/", { https: true });
    expect(s.status).toBe(0);
    expect(s.exit).not.toBe(0);
    expect(seen.get("fw.spokes.test")).toBeUndefined();
  });

  test("HTTPS terminated in-process keeps the visitor's real address: the firewall and X-Forwarded-For see 127.0.0.2", async () => {
    // fw.spokes.test drops 127.0.0.1 only. Through a loopback hop every visitor would look
    // like 127.0.0.1; a visitor from 127.0.0.2 must be let through and named as itself.
    const from2 = { https: true, args: ["--interface", "127.0.0.2"] };
    const allowed = await curl(server, "fw.spokes.test", "/real", from2);
    expect(allowed.status).toBe(200);
    expect(body(allowed)).toMatchObject({ host: "fw.spokes.test", path: "/real", xff: "127.0.0.2", proto: "https" });
    const app = await curl(server, "app.spokes.test", "/real", from2);
    expect(body(app)).toMatchObject({ xff: "127.0.0.2", proto: "https" });
    // Keep-alive: a second request on the same decrypted connection is routed and attributed too.
    const twice = await curl(server, "app.spokes.test", "/a", { ...from2, after: [`https://app.spokes.test:${server.httpsPort}/b`] });
    expect(twice.exit).toBe(0);
    expect(twice.body).toContain('"path":"/b"');
  });
});

describe("through an HTTP rule", () => {
  test("a WebSocket upgrade echoes text and binary messages", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws`, { headers: { Host: "app.spokes.test" } } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const got: (string | Uint8Array)[] = [];
    ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
    await new Promise<void>((res, rej) => {
      ws.onopen = () => res();
      ws.onerror = () => rej(new Error("WebSocket failed"));
    });
    const bin = randomBytes(200_000);
    ws.send("hello");
    ws.send(bin);
    ws.send("bye");
    await waitFor(() => got.length === 3, "three echoes");
    expect(got[0]).toBe("echo:hello");
    expect(sha256(got[1] as Uint8Array)).toBe(sha256(bin));
    expect(got[2]).toBe("echo:bye");
    ws.close();
  });

  test("a chunked streaming response arrives chunk by chunk", async () => {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/stream`, { headers: { Host: "app.spokes.test" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("transfer-encoding")).toBe("chunked");
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    // The upstream holds chunk n+1 until this side has seen chunk n: a proxy that buffered
    // the response would never deliver chunk 0, and the loop would time out.
    for (let n = 0; n < 5; n++) {
      while (!text.includes(`chunk-${n};`)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before chunk ${n}: ${text}`);
        text += dec.decode(value, { stream: true });
      }
      streamAck?.();
    }
    for (let c = await reader.read(); !c.done; c = await reader.read()) text += dec.decode(c.value, { stream: true });
    expect(text).toBe("chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;");
  });

  test("a 100 MB upload arrives whole (byte count and sha256 at the upstream)", async () => {
    const dir = tempDir();
    const file = join(dir, "upload.bin");
    const data = randomBytes(100 * 1024 * 1024);
    writeFileSync(file, data);
    const started = Date.now();
    const r = await curl(server, "app.spokes.test", "/upload", { args: ["-X", "POST", "-H", "Content-Type: application/octet-stream", "--data-binary", `@${file}`], timeoutMs: 60_000 });
    expect(r.status).toBe(200);
    expect(body(r)).toEqual({ bytes: data.length as unknown as string, sha256: sha256(data) });
    console.log(`100 MB upload through the tunnel: ${Date.now() - started} ms`);
  });
});
