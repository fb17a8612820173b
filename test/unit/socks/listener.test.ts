// The SOCKS listener for real: Bun sockets on 127.0.0.1 with kernel-chosen ports, a
// hand-written client, the real resolver + dialTcp, and curl when it is installed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { generateSelfSigned } from "../../../lib/tls/certificates.ts";
import { createAllowList } from "../../../lib/socks/allow-list.ts";
import { bunSocketHandlers } from "../../../lib/net/connection.ts";
import { createSocksDialer } from "../../../lib/socks/dialer.ts";
import { type SocksListener, createSocksListener } from "../../../lib/socks/listener.ts";
import type { SocksSessionRecord } from "../../../lib/socks/server.ts";
import { freePort, waitFor } from "../../helpers.ts";
import { type RawClient, connectRaw } from "./raw-client.ts";

const b = (...bytes: number[]) => Uint8Array.from(bytes);
const text = (s: string) => new TextEncoder().encode(s);
const str = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const p16 = (p: number) => [p >> 8, p & 0xff];
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
};
const connectV4 = (port: number) => b(5, 1, 0, 1, 127, 0, 0, 1, ...p16(port));
const connectName = (name: string, port: number) => b(5, 1, 0, 3, name.length, ...text(name), ...p16(port));

/** Names the tests use, answered without touching the machine's resolver. */
const lookup = async (name: string) => {
  if (["echo.test", "web.test", "banner.test", "source.test"].includes(name)) return ["127.0.0.1"];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
};
// Loopback is protected: these tests reach their local servers only because
// 127.0.0.1 is listed explicitly (127.0.0.2 stays refused).
const dial = createSocksDialer({ allowList: createAllowList(["127.0.0.1"]), lookup });

const sessions: SocksSessionRecord[] = [];
let echo: { port: number; stop(closeActive?: boolean): void };
let banner: { port: number; stop(closeActive?: boolean): void };
let source: { port: number; stop(closeActive?: boolean): void };
/** The flood source's progress: bytes the kernel took, and whether it waits for drain. */
const flood = { total: 48 * 1024 * 1024, sent: 0, blocked: false, payload: new Uint8Array(0), onProgress: undefined as (() => void) | undefined };
let web: ReturnType<typeof Bun.serve>;
let open: SocksListener;
let authed: SocksListener;
let tls: SocksListener;
let impatient: SocksListener;
let impatientTls: SocksListener;

beforeAll(async () => {
  // Echo with backpressure and half-close: echoes until the client's FIN, then ends.
  echo = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: {},
    socket: bunSocketHandlers((conn) => {
      conn.ondata = (bytes) => {
        if (!conn.write(bytes)) conn.pause();
      };
      conn.ondrain = () => conn.resume();
      conn.onend = () => conn.end();
      conn.resume();
    }),
  });
  // Speaks first, like SSH or SMTP.
  banner = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.write("SSH-2.0-banner\r\n");
      },
      data() {},
    },
  });
  // Sends `flood.total` bytes as fast as the relay lets it, honouring drain.
  flood.payload = new Uint8Array(flood.total);
  for (let i = 0; i < flood.total; i += 512) flood.payload[i] = (i >> 9) & 0xff;
  const pump = (s: { write(b: Uint8Array): number; end(): void }) => {
    while (flood.sent < flood.total) {
      const chunk = flood.payload.subarray(flood.sent, flood.sent + 256 * 1024);
      const n = s.write(chunk);
      flood.sent += Math.max(n, 0);
      flood.onProgress?.();
      if (n < chunk.length) {
        flood.blocked = true;
        return;
      }
    }
    s.end();
  };
  source = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: pump,
      drain(s) {
        flood.blocked = false;
        pump(s);
      },
      data() {},
    },
  });
  web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`hello from web ${new URL(req.url).pathname}`) });

  const common = { hostname: "127.0.0.1", port: 0, dial, onSession: (r: SocksSessionRecord) => sessions.push(r) };
  open = createSocksListener({ ...common, auth: "none" });
  authed = createSocksListener({ ...common, auth: { verify: async (_u, password) => password === "token-123" } });
  const cert = await generateSelfSigned("socks.test");
  tls = createSocksListener({ ...common, auth: "none", tls: { cert: cert.certPem, key: cert.keyPem } });
  impatient = createSocksListener({ ...common, auth: "none", handshakeTimeoutMs: 300, closeLingerMs: 200 });
  impatientTls = createSocksListener({ ...common, auth: "none", handshakeTimeoutMs: 300, closeLingerMs: 200, tls: { cert: cert.certPem, key: cert.keyPem } });
});

afterAll(() => {
  for (const l of [open, authed, tls, impatient, impatientTls]) l?.stop(true);
  echo?.stop(true);
  banner?.stop(true);
  source?.stop(true);
  web?.stop(true);
});

/** Greeting without auth, then a request; returns the client and the 10-byte reply. */
async function socksConnect(listenerPort: number, request: Uint8Array, opts: { tls?: boolean } = {}): Promise<{ c: RawClient; reply: Uint8Array }> {
  const c = await connectRaw(listenerPort, opts);
  await c.write(b(5, 1, 0));
  expect(await c.read(2)).toEqual(b(5, 0));
  await c.write(request);
  return { c, reply: await c.read(10) };
}

describe("SOCKS listener (plain TCP)", () => {
  test("CONNECT by IPv4, echo, and half-close travelling both ways", async () => {
    const { c, reply } = await socksConnect(open.port, connectV4(echo.port));
    expect(reply[0]).toBe(5);
    expect(reply[1]).toBe(0x00);
    expect(reply[3]).toBe(1); // BND.ADDR is an IPv4 address
    expect(Array.from(reply.subarray(4, 8))).toEqual([127, 0, 0, 1]);
    await c.write("hello");
    expect(str(await c.read(5))).toBe("hello");
    // Our FIN reaches the echo server through the relay; its FIN comes back the same way.
    c.socket.shutdown();
    expect(await c.readToClose()).toHaveLength(0);
    const rec = await waitFor(() => sessions.find((s) => s.target?.port === echo.port && s.bytesUp === 5), "session record");
    expect(rec).toMatchObject({ reply: 0, bytesDown: 5, target: { host: "127.0.0.1", addrType: 1 }, client: { remoteAddress: "127.0.0.1", tls: false } });
  });

  test("greeting, request (domain name) and data in one write", async () => {
    const c = await connectRaw(open.port);
    await c.write(concat(b(5, 1, 0), connectName("echo.test", echo.port), text("ping")));
    expect(await c.read(2)).toEqual(b(5, 0));
    expect((await c.read(10))[1]).toBe(0);
    expect(str(await c.read(4))).toBe("ping");
    c.socket.end();
  });

  test("an IPv6 request for an IPv4-mapped address is checked and dialled as IPv4", async () => {
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1];
    const { c, reply } = await socksConnect(open.port, b(5, 1, 0, 4, ...mapped, ...p16(echo.port)));
    expect(reply[1]).toBe(0);
    await c.write("v6");
    expect(str(await c.read(2))).toBe("v6");
    c.socket.end();
  });

  test("a destination that speaks first: its banner follows the reply", async () => {
    const { c, reply } = await socksConnect(open.port, connectName("banner.test", banner.port));
    expect(reply[1]).toBe(0);
    expect(str(await c.read(16))).toBe("SSH-2.0-banner\r\n");
    c.socket.end();
  });

  test("a destination outside the allow-list gets 0x02 and the connection closes", async () => {
    for (const request of [b(5, 1, 0, 1, 127, 0, 0, 2, ...p16(echo.port)), connectName("unknown.test", 80), b(5, 1, 0, 1, 10, 0, 0, 1, 0, 22)]) {
      const { c, reply } = await socksConnect(open.port, request);
      expect(reply).toEqual(b(5, 0x02, 0, 1, 0, 0, 0, 0, 0, 0));
      await c.closed;
    }
  });

  test("a closed port on an allowed address gets 0x05", async () => {
    const { c, reply } = await socksConnect(open.port, connectV4(await freePort()));
    expect(reply[1]).toBe(0x05);
    await c.closed;
  });

  test("BIND and UDP ASSOCIATE get 0x07, an unknown address type 0x08", async () => {
    for (const [request, code] of [
      [b(5, 2, 0, 1, 127, 0, 0, 1, 0, 80), 0x07],
      [b(5, 3, 0, 1, 0, 0, 0, 0, 0, 0), 0x07],
      [b(5, 1, 0, 7, 1, 2, 3, 4, 0, 80), 0x08],
    ] as const) {
      const { c, reply } = await socksConnect(open.port, request);
      expect(reply[1]).toBe(code);
      await c.closed;
    }
  });

  test("garbage instead of a greeting is closed without a reply", async () => {
    const c = await connectRaw(open.port);
    await c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(await c.readToClose()).toHaveLength(0);
  });

  test("16 MiB each way arrives intact (backpressure on both legs)", async () => {
    const { c, reply } = await socksConnect(open.port, connectV4(echo.port));
    expect(reply[1]).toBe(0);
    const size = 16 * 1024 * 1024;
    const payload = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) payload[i] = (i / 4096) & 0xff;
    crypto.getRandomValues(payload.subarray(0, 65536));
    const want = createHash("sha256").update(payload).digest("hex");
    const sending = (async () => {
      for (let at = 0; at < size; at += 256 * 1024) await c.write(payload.subarray(at, at + 256 * 1024));
      c.socket.shutdown();
    })();
    const got = await c.read(size, 30_000);
    await sending;
    expect(createHash("sha256").update(got).digest("hex")).toBe(want);
    await c.closed;
  });
});

describe("backpressure", () => {
  // Bounded by bytes, not by time: while the client reads nothing, what the source managed
  // to send (= bytes held between the two ends) must level off far below what it wants to
  // send. The bound covers the kernel's loopback buffers on both legs (autotuned up to a
  // few MiB each) and the relay's capped queue; a relay that kept reading would carry all
  // 48 MiB. The wait for the stall is long and the test timeout longer, so a loaded machine
  // only makes it slower.
  const IN_FLIGHT_BOUND = 24 * 1024 * 1024;
  test(
    "a client that stops reading stalls the destination instead of filling memory",
    async () => {
      const { c, reply } = await socksConnect(open.port, connectName("source.test", source.port));
      expect(reply[1]).toBe(0);
      c.socket.pause();
      let maxInFlight = 0;
      flood.onProgress = () => (maxInFlight = Math.max(maxInFlight, flood.sent - c.received));
      // Stalled = the source is blocked and made no progress for 500 ms; or it already sent
      // more than the bound (then the assertion below fails at once instead of waiting).
      let last = -1;
      let since = Date.now();
      await waitFor(
        () => {
          if (flood.sent - c.received > IN_FLIGHT_BOUND) return true;
          if (flood.blocked && flood.sent === last) return Date.now() - since >= 500;
          last = flood.sent;
          since = Date.now();
          return false;
        },
        "the source to stall",
        45_000,
        20,
      );
      expect(flood.sent - c.received).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
      c.socket.resume();
      const got = await c.read(flood.total, 60_000);
      flood.onProgress = undefined;
      expect(maxInFlight).toBeLessThanOrEqual(IN_FLIGHT_BOUND);
      const digest = (x: Uint8Array) => createHash("sha256").update(x).digest("hex");
      expect(digest(got)).toBe(digest(flood.payload));
      await c.closed;
    },
    120_000,
  );
});

describe("username/password (RFC 1929)", () => {
  test("the right token connects", async () => {
    const c = await connectRaw(authed.port);
    await c.write(b(5, 2, 0, 2));
    expect(await c.read(2)).toEqual(b(5, 2));
    await c.write(b(1, 1, ...text("u"), 9, ...text("token-123")));
    expect(await c.read(2)).toEqual(b(1, 0));
    await c.write(connectV4(echo.port));
    expect((await c.read(10))[1]).toBe(0);
    await c.write("authed");
    expect(str(await c.read(6))).toBe("authed");
    c.socket.end();
    const rec = await waitFor(() => sessions.find((s) => s.username === "u" && s.reply === 0), "session record");
    expect(rec.target?.port).toBe(echo.port);
  });

  test("a wrong password is refused and closed", async () => {
    const c = await connectRaw(authed.port);
    await c.write(concat(b(5, 1, 2), b(1, 1, ...text("u"), 5, ...text("wrong")), connectV4(echo.port)));
    expect(await c.read(2)).toEqual(b(5, 2));
    expect(await c.read(2)).toEqual(b(1, 1));
    expect(await c.readToClose()).toHaveLength(0);
  });

  test("a client that does not offer username/password gets 0xFF", async () => {
    const c = await connectRaw(authed.port);
    await c.write(b(5, 1, 0));
    expect(await c.read(2)).toEqual(b(5, 0xff));
    expect(await c.readToClose()).toHaveLength(0);
  });
});

describe("slow clients", () => {
  test("a silent client is closed at the handshake deadline", async () => {
    const started = Date.now();
    const c = await connectRaw(impatient.port);
    await c.closed;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
  });

  test("a trickling client (one byte at a time) is closed too", async () => {
    const started = Date.now();
    const c = await connectRaw(impatient.port);
    await c.write(b(5));
    await c.write(b(1));
    await c.closed;
    expect(Date.now() - started).toBeLessThan(3000);
    const rec = await waitFor(() => sessions.find((s) => s.reason === "handshake timed out"), "timeout record");
    expect(rec.reply).toBeUndefined();
  });

  test("a fast client on the same listener is unaffected", async () => {
    const { c, reply } = await socksConnect(impatient.port, connectV4(echo.port));
    expect(reply[1]).toBe(0);
    await c.write("still here");
    expect(str(await c.read(10))).toBe("still here");
    c.socket.end();
  });
});

describe("SOCKS inside TLS", () => {
  test("handshake and relay over a TLS listener", async () => {
    const { c, reply } = await socksConnect(tls.port, connectName("echo.test", echo.port), { tls: true });
    expect(reply[1]).toBe(0);
    await c.write("over tls");
    expect(str(await c.read(8))).toBe("over tls");
    c.socket.shutdown();
    await c.closed;
    const rec = await waitFor(() => sessions.find((s) => s.client.tls && s.bytesUp === 8), "tls record");
    expect(rec.bytesDown).toBe(8);
  });

  test("a peer that never finishes the TLS handshake is closed at the deadline", async () => {
    // Bun opens a TLS socket only after its handshake: the plain front door has to time it.
    const started = Date.now();
    const c = await connectRaw(impatientTls.port);
    await c.write(b(0x16, 3, 1)); // the start of a TLS record header, then nothing
    await c.closed;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
  });

  test("the session record carries the client's own address, not the loopback relay's", async () => {
    const { c, reply } = await socksConnect(impatientTls.port, connectV4(echo.port), { tls: true });
    expect(reply[1]).toBe(0);
    const port = c.socket.localPort;
    c.socket.end();
    const rec = await waitFor(() => sessions.find((s) => s.client.tls && s.client.remotePort === port), "tls record");
    expect(rec.client.remoteAddress).toBe("127.0.0.1");
  });

  test("plain SOCKS bytes on the TLS port are not served", async () => {
    const c = await connectRaw(tls.port);
    await c.write(concat(b(5, 1, 0), connectV4(echo.port)));
    const got = await c.readToClose();
    // Whatever TLS answers (an alert, or nothing), it is not a SOCKS method selection.
    expect(got.length >= 2 && got[0] === 5 && got[1] === 0).toBe(false);
  });
});

const curl = Bun.which("curl");

describe.skipIf(!curl)("curl --socks5-hostname", () => {
  async function runCurl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    // Async spawn: the listener runs in this process, a sync spawn would block it.
    const p = Bun.spawn([curl!, "-sS", "--max-time", "10", ...args], { stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  }

  test("anonymous, name resolved by the proxy", async () => {
    const r = await runCurl(["--socks5-hostname", `127.0.0.1:${open.port}`, `http://web.test:${web.port}/anon`]);
    expect(r).toMatchObject({ code: 0, stdout: "hello from web /anon" });
  });

  test("with --proxy-user and the right token", async () => {
    const r = await runCurl(["--socks5-hostname", `127.0.0.1:${authed.port}`, "--proxy-user", "u:token-123", `http://web.test:${web.port}/authed`]);
    expect(r).toMatchObject({ code: 0, stdout: "hello from web /authed" });
  });

  test("with a wrong token, or none, curl fails", async () => {
    const wrong = await runCurl(["--socks5-hostname", `127.0.0.1:${authed.port}`, "--proxy-user", "u:nope", `http://web.test:${web.port}/`]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).toBe("");
    const none = await runCurl(["--socks5-hostname", `127.0.0.1:${authed.port}`, `http://web.test:${web.port}/`]);
    expect(none.code).not.toBe(0);
  });

  test("a refused destination fails with the ruleset error", async () => {
    const r = await runCurl(["--socks5-hostname", `127.0.0.1:${open.port}`, "http://forbidden.test/"]);
    expect(r.code).not.toBe(0);
    // curl names the REP code: (2) is "connection not allowed by ruleset".
    expect(r.stderr).toMatch(/\(2\)|not allowed/);
  });
});
