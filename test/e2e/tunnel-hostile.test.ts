// Hostile input to every listener of a running spokes (HTTP, HTTPS, an allocated TCP port,
// the tunnel endpoint, raw and as WebSocket frames): the server stays up and keeps serving
// its tunnels. And `spokes serve` with bad inputs: one clear error line and exit 1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { connect as tcpConnect, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { SPOKES_BIN, freePort, tempDir } from "../helpers.ts";
import { configureClient, curl, echoUpstream, httpUpstream, mustRun, runAsync, startServer, stopAll, tcpExchange, type TestClient, type TestServer } from "./_tunnel-harness.ts";

const CONTROL_PATH = "/api/client/v1/tunnel";
const DATA_PATH = "/api/client/v1/tunnel/data";

let server: TestServer;
let client: TestClient;
let tcpPort: number;

beforeAll(async () => {
  server = await startServer();
  const app = httpUpstream({ fetch: () => new Response("still serving") });
  const echo = await echoUpstream();
  client = await configureClient(server);
  await mustRun(client, ["tunnel", "http", "add", "--domain", "app.spokes.test", "--http", String(app.port)]);
  tcpPort = await client.allocatePort();
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(tcpPort), "--dstport", String(echo.port)]);
  await client.start();
});

afterAll(stopAll);

/**
 * Writes `chunks` to a raw TCP (or TLS) connection, then collects what comes back until
 * close, `ms`, or a complete response head (`head`).
 */
function blast(port: number, chunks: (string | Uint8Array)[], opts: { tls?: boolean; ms?: number; keepOpen?: boolean; head?: boolean } = {}): Promise<{ reply: Buffer; socket: Socket }> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    const sock: Socket = opts.tls ? tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false }) : tcpConnect({ host: "127.0.0.1", port });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!opts.keepOpen) sock.destroy();
      resolve({ reply: Buffer.concat(got), socket: sock });
    };
    const timer = setTimeout(finish, opts.ms ?? 1000);
    sock.on(opts.tls ? "secureConnect" : "connect", () => {
      for (const c of chunks) sock.write(c);
    });
    sock.on("data", (d: Buffer) => {
      got.push(d);
      if (opts.head && Buffer.concat(got).includes("\r\n\r\n")) finish();
    });
    sock.on("error", finish);
    sock.on("close", finish);
  });
}

/** The server process is alive and still carries tunnel traffic (HTTP, HTTPS, TCP). */
async function expectStillServing(): Promise<void> {
  expect(server.proc.exitCode).toBeNull();
  const http = await curl(server, "app.spokes.test", "/", { timeoutMs: 5000 });
  expect(http.status).toBe(200);
  expect(http.body).toBe("still serving");
  const https = await curl(server, "app.spokes.test", "/", { https: true, timeoutMs: 5000 });
  expect(https.status).toBe(200);
  expect((await tcpExchange(tcpPort, Buffer.from("echo?"), 5000)).received.toString()).toBe("echo?");
  expect(server.tunnel(client.tunnelId)!.online).toBe(true);
}

/** A ClientHello carrying `sni` (any length), as a browser would send it, built by hand. */
function clientHello(sni: string, opts: { truncateTo?: number } = {}): Buffer {
  const name = Buffer.from(sni);
  const sniExt = Buffer.concat([u16(0), u16(name.length + 5), u16(name.length + 3), Buffer.from([0]), u16(name.length), name]);
  const body = Buffer.concat([Buffer.from([3, 3]), randomBytes(32), Buffer.from([0]), u16(2), Buffer.from([0x13, 0x01]), Buffer.from([1, 0]), u16(sniExt.length), sniExt]);
  const hs = Buffer.concat([Buffer.from([1]), u24(body.length), body]);
  const rec = Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
  return opts.truncateTo ? rec.subarray(0, opts.truncateTo) : rec;
}
const u16 = (n: number) => Buffer.from([(n >> 8) & 255, n & 255]);
const u24 = (n: number) => Buffer.from([(n >> 16) & 255, (n >> 8) & 255, n & 255]);

describe("garbage on the public HTTP port", () => {
  test("random bytes, an endless request line, a header flood, broken chunking, smuggling: answered or closed, server unharmed", async () => {
    const port = server.httpPort;
    const random = await blast(port, [randomBytes(64 * 1024)]);
    expect(random.reply.toString()).not.toContain(" 200 ");
    const longLine = await blast(port, [`GET /${"a".repeat(200_000)}`]);
    expect(longLine.reply.toString()).toMatch(/^(HTTP\/1\.1 4\d\d|$)/);
    const headerFlood = await blast(port, [`GET / HTTP/1.1\r\nHost: app.spokes.test\r\n${"X-Flood: y\r\n".repeat(20_000)}\r\n`]);
    expect(headerFlood.reply.toString()).toMatch(/^(HTTP\/1\.1 4\d\d|$)/);
    const badChunk = await blast(port, ["POST / HTTP/1.1\r\nHost: app.spokes.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n"]);
    expect(badChunk.reply.toString()).not.toMatch(/still serving[\s\S]*still serving/);
    const smuggle = await blast(port, ["POST / HTTP/1.1\r\nHost: app.spokes.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: app.spokes.test\r\n\r\n"]);
    expect(smuggle.reply.toString()).toMatch(/^HTTP\/1\.1 400/);
    const noHost = await blast(port, ["GET / HTTP/1.1\r\n\r\n"]);
    expect(noHost.reply.toString()).toMatch(/^HTTP\/1\.1 400/);
    const nul = await blast(port, [Buffer.alloc(10_000)]);
    expect(nul.reply.toString()).not.toContain(" 200 ");
    await expectStillServing();
  });

  test("a slow-loris head left open does not hold up other visitors", async () => {
    const loris = await blast(server.httpPort, ["GET / HTTP/1.1\r\nHost: app.spokes.test\r\nX-Slow: "], { ms: 100, keepOpen: true });
    try {
      await expectStillServing();
    } finally {
      loris.socket.destroy();
    }
  });
});

describe("garbage on the public HTTPS port", () => {
  test("random bytes, truncated and oversized ClientHellos, unknown names: closed, server unharmed", async () => {
    const port = server.httpsPort;
    for (const chunks of [
      [randomBytes(64 * 1024)],
      [Buffer.from([0x16, 3, 1, 0xff, 0xff]), randomBytes(70_000)],
      [clientHello("app.spokes.test", { truncateTo: 60 })],
      [clientHello("x".repeat(255) + ".spokes.test")],
      [clientHello("a".repeat(5000))],
      [clientHello("")],
      [clientHello("unknown.example.org"), randomBytes(1000)],
      [clientHello("app.spokes.test"), randomBytes(10_000)],
      [Buffer.from("GET / HTTP/1.1\r\nHost: app.spokes.test\r\n\r\n")],
    ]) {
      const r = await blast(port, chunks, { ms: 500 });
      expect(r.reply.toString()).not.toContain("still serving");
    }
    await expectStillServing();
  });

  test("a ClientHello without SNI is the server's own domain (terminated with its certificate)", async () => {
    const r = await runAsync(["curl", "-sS", "-k", "-o", "/dev/null", "-w", "%{http_code}", `https://127.0.0.1:${server.httpsPort}/`]);
    expect(r.code).toBe(0);
    expect(Number(r.stdout)).toBeGreaterThanOrEqual(200);
  });
});

describe("garbage on an allocated TCP port", () => {
  test("bytes of any kind are carried to the upstream, and the port keeps working", async () => {
    const data = randomBytes(256 * 1024);
    expect((await tcpExchange(tcpPort, data)).received.equals(data)).toBe(true);
    // A visitor that connects and resets at once, many times over.
    for (let i = 0; i < 50; i++) {
      const s = tcpConnect({ host: "127.0.0.1", port: tcpPort });
      s.on("error", () => {});
      s.on("connect", () => s.resetAndDestroy());
    }
    await expectStillServing();
  });
});

describe("garbage on the tunnel endpoint", () => {
  const wsUrl = (path: string) => `wss://127.0.0.1:${server.httpsPort}${path}`;
  const openWs = (path: string, key: string | undefined) =>
    new WebSocket(wsUrl(path), { headers: key ? { Authorization: `Bearer ${key}` } : {}, tls: { rejectUnauthorized: false } } as unknown as string[]);
  const closed = (ws: WebSocket) =>
    new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));

  test("raw HTTP requests to the endpoint (no upgrade, no key, bad key, bad WebSocket key) are refused", async () => {
    const raw = (head: string) => blast(server.httpsPort, [head], { tls: true, ms: 3000, head: true });
    const noUpgrade = await raw(`GET ${CONTROL_PATH} HTTP/1.1\r\nHost: spokes.test\r\nConnection: close\r\n\r\n`);
    expect(noUpgrade.reply.toString()).toMatch(/^HTTP\/1\.1 426/);
    const noKey = await raw(`GET ${CONTROL_PATH} HTTP/1.1\r\nHost: spokes.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    expect(noKey.reply.toString()).toMatch(/^HTTP\/1\.1 401/);
    const badWsKey = await raw(`GET ${CONTROL_PATH} HTTP/1.1\r\nHost: spokes.test\r\nAuthorization: Bearer ${"0".repeat(48)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!\r\n\r\n`);
    expect(badWsKey.reply.toString()).not.toMatch(/^HTTP\/1\.1 101/);
    const dataNoSession = await raw(`GET ${DATA_PATH}?session=nope HTTP/1.1\r\nHost: spokes.test\r\nAuthorization: Bearer x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    expect(dataNoSession.reply.toString()).toMatch(/^HTTP\/1\.1 403/);
    // The plain HTTP port has no tunnel endpoint: the token is not even looked at.
    const logFrom = server.log.text.length;
    const plain = await blast(server.httpPort, [`GET ${CONTROL_PATH} HTTP/1.1\r\nHost: spokes.test\r\nAuthorization: Bearer x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`], { ms: 3000, head: true });
    // (it redirects to HTTPS, like every plain-HTTP request for the server's own domain)
    expect(plain.reply.toString()).toMatch(/^HTTP\/1\.1 301/);
    expect(server.log.text.slice(logFrom)).not.toContain("tunnel login");
    await expectStillServing();
  });

  test("a WebSocket with a valid key that sends garbage frames is closed; other tunnels are unaffected", async () => {
    const { key } = server.createToken();
    for (const garbage of [randomBytes(100), randomBytes(70_000), Buffer.alloc(12), Buffer.from("not a frame at all"), new Uint8Array(0)]) {
      const ws = openWs(CONTROL_PATH, key);
      const end = closed(ws);
      ws.addEventListener("open", () => {
        ws.send(garbage);
        ws.send("text is not a frame either");
      });
      const { code } = await Promise.race([end, Bun.sleep(5000).then(() => ({ code: -1, reason: "still open" }))]);
      expect(code).not.toBe(-1);
    }
    await expectStillServing();
  });

  test("a WebSocket with an unknown key is refused with a reason; a data connection without a session is refused", async () => {
    const ws = openWs(CONTROL_PATH, "f".repeat(48));
    const end = closed(ws);
    const got: Uint8Array[] = [];
    ws.binaryType = "arraybuffer";
    ws.addEventListener("message", (e) => got.push(new Uint8Array(e.data as ArrayBuffer)));
    await end;
    expect(Buffer.concat(got).toString()).toMatch(/refused/);
    const data = openWs(`${DATA_PATH}?session=${"0".repeat(32)}`, "f".repeat(48));
    let opened = false;
    data.addEventListener("open", () => (opened = true));
    await closed(data);
    expect(opened).toBe(false);
    await expectStillServing();
  });
});

describe("spokes serve with bad inputs", () => {
  const serve = (config: string, env: Record<string, string> = {}) => runAsync([SPOKES_BIN, "serve", "--config", config], { env, timeoutMs: 15_000 });
  /** One error line, exit 1, nothing that looks like a stack trace. */
  const failsWith = (r: { code: number; stdout: string; stderr: string }, pattern: RegExp) => {
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(r.stderr + r.stdout).not.toMatch(/^\s+at /m);
  };
  const config = (dir: string, fields: Record<string, unknown>) => {
    const path = join(dir, "config.json");
    writeFileSync(path, JSON.stringify({ domain: "spokes.test", dataPath: dir, tls: { selfSigned: true }, ...fields }));
    return path;
  };

  test("a missing config file", async () => {
    const dir = tempDir();
    failsWith(await serve(join(dir, "nope.json")), /^error: config file .*nope\.json not found/);
  });

  test("an invalid config field", async () => {
    const dir = tempDir();
    failsWith(await serve(config(dir, { listen: { address: "127.0.0.1", http: "eighty", https: 0 } })), /^error: .*listen\.http/);
    failsWith(await serve(config(dir, { portRange: { begin: 40000, end: 30000 } })), /^error: .*portRange/);
  });

  test("a port already in use (HTTP or HTTPS): a clear error, exit 1, no stack trace", async () => {
    const dir = tempDir();
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const free = await freePort();
      failsWith(await serve(config(dir, { listen: { address: "127.0.0.1", http: busy.port, https: free } })), new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${busy.port} \\(listen\\.http\\): address already in use$`));
      failsWith(await serve(config(dir, { listen: { address: "127.0.0.1", http: free, https: busy.port } })), new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${busy.port} \\(listen\\.https\\): address already in use$`));
    } finally {
      busy.stop(true);
    }
  });
});

// Kept for the record: the server log must hold no crash report after all of the above.
afterAll(() => {
  if (server?.log) expect(server.log.text).not.toMatch(/^\s+at .*\(/m);
});
