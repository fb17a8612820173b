import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createClientHelloReader, readClientHello, type ClientHelloResult } from "../../../lib/tls/client-hello.ts";

// ---------------------------------------------------------------------------
// Real ClientHellos: a raw TCP listener records the first bytes real TLS clients send.

interface Capture {
  port: number;
  next(): Promise<Uint8Array>;
  stop(): void;
}

/** Resolves each connection's first bytes once its first TLS record (or 64 bytes of non-TLS) is in. */
function startCapture(): Capture {
  const waiting: ((b: Uint8Array) => void)[] = [];
  const ready: Uint8Array[] = [];
  const server = Bun.listen<{ buf: Uint8Array; done: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: new Uint8Array(0), done: false };
      },
      data(s, chunk) {
        if (s.data.done) return;
        const b = new Uint8Array(s.data.buf.length + chunk.length);
        b.set(s.data.buf);
        b.set(chunk, s.data.buf.length);
        s.data.buf = b;
        const complete = b.length >= 5 && b.length >= 5 + ((b[3] << 8) | b[4]);
        if (complete) {
          s.data.done = true;
          const w = waiting.shift();
          if (w) w(b);
          else ready.push(b);
          s.end();
        }
      },
    },
  });
  return {
    port: server.port,
    next: () => {
      const r = ready.shift();
      return r ? Promise.resolve(r) : new Promise((res) => waiting.push(res));
    },
    stop: () => server.stop(true),
  };
}

let cap: Capture;
const hellos: Record<string, Uint8Array> = {};

async function captureBunTls(serverName: string | undefined): Promise<Uint8Array> {
  const got = cap.next();
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: cap.port,
    tls: serverName ? { serverName, rejectUnauthorized: false } : { rejectUnauthorized: false },
    socket: { data() {}, error() {}, connectError() {}, handshake() {} },
  }).catch(() => null);
  const bytes = await got;
  sock?.end();
  return bytes;
}

async function captureCurl(url: string, resolve?: string): Promise<Uint8Array> {
  const got = cap.next();
  const args = ["curl", "-sk", "--max-time", "5", "-o", "/dev/null"];
  if (resolve) args.push("--resolve", resolve);
  const proc = Bun.spawn([...args, url], { stdout: "ignore", stderr: "ignore" });
  const bytes = await got;
  proc.kill();
  await proc.exited;
  return bytes;
}

beforeAll(async () => {
  cap = startCapture();
  hellos.bun = await captureBunTls("a.example.test");
  hellos.bunNoSni = await captureBunTls(undefined);
  hellos.curl = await captureCurl(`https://a.example.test:${cap.port}/`, `a.example.test:${cap.port}:127.0.0.1`);
  hellos.curlByIp = await captureCurl(`https://127.0.0.1:${cap.port}/`);
});

afterAll(() => cap.stop());

// ---------------------------------------------------------------------------
// Helpers

/** Takes the handshake bytes out of a single-record hello and frames them in records of `size` bytes. */
function reframe(hello: Uint8Array, size: number): Uint8Array {
  const recLen = (hello[3] << 8) | hello[4];
  const hs = hello.subarray(5, 5 + recLen);
  const parts: number[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const frag = hs.subarray(i, Math.min(i + size, hs.length));
    parts.push(0x16, 0x03, 0x01, frag.length >> 8, frag.length & 0xff, ...frag);
  }
  return new Uint8Array(parts);
}

/** A minimal ClientHello built by hand; `extensions` are [type, data] pairs. */
function buildHello(extensions: [number, number[]][] | null, opts: { recordVersionMinor?: number } = {}): Uint8Array {
  const body: number[] = [0x03, 0x03, ...new Array(32).fill(7), 0, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00];
  if (extensions) {
    const ext: number[] = [];
    for (const [type, data] of extensions) ext.push(type >> 8, type & 0xff, data.length >> 8, data.length & 0xff, ...data);
    body.push(ext.length >> 8, ext.length & 0xff, ...ext);
  }
  const hs = [0x01, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff, ...body];
  return new Uint8Array([0x16, 0x03, opts.recordVersionMinor ?? 0x01, hs.length >> 8, hs.length & 0xff, ...hs]);
}

function sniExt(...names: string[]): [number, number[]] {
  const list: number[] = [];
  for (const n of names) {
    const b = [...Buffer.from(n, "latin1")];
    list.push(0, b.length >> 8, b.length & 0xff, ...b);
  }
  return [0, [list.length >> 8, list.length & 0xff, ...list]];
}

/** Feeds `bytes` split at the given offsets; returns every answer. */
function feed(bytes: Uint8Array, cuts: number[]): ClientHelloResult[] {
  const r = createClientHelloReader();
  const out: ClientHelloResult[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(r.push(bytes.subarray(prev, c)));
    prev = c;
  }
  expect(r.bytes()).toEqual(bytes);
  return out;
}

function replaceAscii(bytes: Uint8Array, from: string, to: string): Uint8Array {
  expect(to.length).toBe(from.length);
  const at = Buffer.from(bytes).indexOf(from, 0, "latin1");
  expect(at).toBeGreaterThan(0);
  const out = bytes.slice();
  out.set(Buffer.from(to, "latin1"), at);
  return out;
}

// ---------------------------------------------------------------------------

describe("ClientHellos from real clients", () => {
  test("Bun TLS client with serverName", () => {
    expect(readClientHello(hellos.bun)).toEqual({ status: "hello", sni: "a.example.test" });
  });

  test("curl --resolve", () => {
    expect(readClientHello(hellos.curl)).toEqual({ status: "hello", sni: "a.example.test" });
  });

  // curl leaves server_name out for an IP address; Bun sends the IP literal, which
  // RFC 6066 forbids, so the reader reports both as "no SNI".
  test("no SNI when connecting by IP address (Bun and curl)", () => {
    expect(readClientHello(hellos.bunNoSni)).toEqual({ status: "hello", sni: null });
    expect(readClientHello(hellos.curlByIp)).toEqual({ status: "hello", sni: null });
  });

  for (const name of ["bun", "curl", "bunNoSni"]) {
    test(`${name}: split in two at every byte offset`, () => {
      const hello = hellos[name];
      const whole = readClientHello(hello);
      for (let i = 1; i < hello.length; i++) {
        const [first, second] = feed(hello, [i]);
        expect(first.status).toBe("incomplete");
        expect(second).toEqual(whole);
      }
    });
  }

  test("one byte per read", () => {
    const answers = feed(hellos.curl, Array.from({ length: hellos.curl.length - 1 }, (_, i) => i + 1));
    expect(answers.slice(0, -1).every((a) => a.status === "incomplete")).toBe(true);
    expect(answers.at(-1)).toEqual({ status: "hello", sni: "a.example.test" });
  });

  test("bytes after the ClientHello are kept for replay", () => {
    const r = createClientHelloReader();
    const extra = new Uint8Array([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]);
    const both = new Uint8Array([...hellos.bun, ...extra]);
    expect(r.push(both.subarray(0, 10))).toEqual({ status: "incomplete" });
    expect(r.push(both.subarray(10))).toEqual({ status: "hello", sni: "a.example.test" });
    expect(r.bytes()).toEqual(both);
  });

  test("a whole hello in one read is not copied", () => {
    const r = createClientHelloReader();
    r.push(hellos.bun);
    expect(r.bytes().buffer).toBe(hellos.bun.buffer);
  });

  test("the server name is lowercased", () => {
    const upper = replaceAscii(hellos.bun, "a.example.test", "A.ExAmPlE.TEST");
    expect(readClientHello(upper)).toEqual({ status: "hello", sni: "a.example.test" });
  });

  test("an invalid host name in SNI is an error", () => {
    expect(readClientHello(replaceAscii(hellos.bun, "a.example.test", "a.exa!ple.test")).status).toBe("error");
    expect(readClientHello(replaceAscii(hellos.bun, "a.example.test", "a..xample.test")).status).toBe("error");
    expect(readClientHello(replaceAscii(hellos.bun, "a.example.test", "a.example.te\u00e9t")).status).toBe("error");
  });
});

describe("handshake message fragmented over several records", () => {
  for (const size of [1, 2, 7, 100, 511]) {
    test(`records of ${size} bytes, whole and split at every offset`, () => {
      const framed = reframe(hellos.bun, size);
      expect(readClientHello(framed, { maxBufferedBytes: 64 * 1024 })).toEqual({ status: "hello", sni: "a.example.test" });
      if (size < 7) return; // the 1- and 2-byte framings are 3-5x larger than the cap allows by default
      const step = Math.max(1, Math.floor(framed.length / 400));
      for (let i = 1; i < framed.length; i += step) {
        const [first, second] = feed(framed, [i]);
        expect(first.status).toBe("incomplete");
        expect(second).toEqual({ status: "hello", sni: "a.example.test" });
      }
    });
  }

  test("curl's hello in 3 records, split in three reads", () => {
    const framed = reframe(hellos.curl, Math.ceil(((hellos.curl[3] << 8) | hellos.curl[4]) / 3));
    const answers = feed(framed, [3, Math.floor(framed.length / 2)]);
    expect(answers.map((a) => a.status)).toEqual(["incomplete", "incomplete", "hello"]);
  });

  test("a non-handshake record before the hello is complete is an error", () => {
    const framed = reframe(hellos.bun, 100);
    const bad = framed.slice();
    bad[105] = 0x17; // second record's type: application data
    expect(readClientHello(bad).status).toBe("error");
  });
});

describe("not TLS, malformed, oversized", () => {
  test("an HTTP request is notTls from its first byte", () => {
    const r = createClientHelloReader();
    expect(r.push(Buffer.from("G"))).toEqual({ status: "notTls" });
    expect(readClientHello(Buffer.from("GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n"))).toEqual({ status: "notTls" });
  });

  test("SSLv2-style and other first bytes are notTls", () => {
    expect(readClientHello(new Uint8Array([0x80, 0x2e, 0x01, 0x03, 0x01])).status).toBe("notTls");
    expect(readClientHello(new Uint8Array([0x16, 0x02, 0x00])).status).toBe("notTls");
    expect(readClientHello(new Uint8Array([0x16, 0x03, 0x09, 0, 10])).status).toBe("notTls");
    expect(readClientHello(new Uint8Array([0x16])).status).toBe("incomplete");
  });

  test("garbage inside a handshake record is an error", () => {
    const rnd = crypto.getRandomValues(new Uint8Array(300));
    const rec = new Uint8Array([0x16, 0x03, 0x01, 0x01, 0x2c, 0x01, 0x00, 0x01, 0x28, ...rnd.subarray(0, 296)]);
    expect(readClientHello(rec).status).toBe("error");
    // Not a ClientHello at all (ServerHello type).
    expect(readClientHello(new Uint8Array([0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).status).toBe("error");
    // An empty handshake record.
    expect(readClientHello(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x00])).status).toBe("error");
    // A record longer than 2^14.
    expect(readClientHello(new Uint8Array([0x16, 0x03, 0x01, 0x40, 0x01])).status).toBe("error");
  });

  test("truncated and inconsistent lengths are errors", () => {
    const good = buildHello([sniExt("x.test")]);
    expect(readClientHello(good)).toEqual({ status: "hello", sni: "x.test" });
    // Extensions block shorter than declared.
    const bad = good.slice();
    bad[bad.length - 12] ^= 0x01; // the extensions length
    expect(readClientHello(bad).status).toBe("error");
  });

  test("oversized ClientHello is refused as soon as its length is known", () => {
    const r = createClientHelloReader();
    const head = new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x50, 0x00]); // 20480-byte hello
    expect(r.push(head).status).toBe("error");
  });

  test("a stream of tiny records stops at the buffer cap", () => {
    const r = createClientHelloReader();
    // A hello that claims 16000 bytes, sent one byte per record: 6 bytes on the wire per byte.
    let res = r.push(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x3e, 0x80]));
    let sent = 9;
    while (res.status === "incomplete") {
      res = r.push(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x01, 0x00]));
      sent += 6;
      expect(sent).toBeLessThan(20_000);
    }
    expect(res.status).toBe("error");
  });

  test("after a final answer, further pushes repeat it", () => {
    const r = createClientHelloReader();
    expect(r.push(Buffer.from("GET /")).status).toBe("notTls");
    expect(r.push(hellos.bun).status).toBe("notTls");
    expect(r.result.status).toBe("notTls");
  });
});

describe("hand-built ClientHellos", () => {
  test("no extensions at all: valid, no SNI", () => {
    expect(readClientHello(buildHello(null))).toEqual({ status: "hello", sni: null });
  });

  test("extensions without server_name", () => {
    expect(readClientHello(buildHello([[0x000a, [0, 2, 0, 0x1d]]]))).toEqual({ status: "hello", sni: null });
  });

  test("TLS 1.0 record version, trailing dot dropped", () => {
    expect(readClientHello(buildHello([sniExt("App.Test.")], { recordVersionMinor: 0 }))).toEqual({ status: "hello", sni: "app.test" });
  });

  test("two host names, duplicate extensions, empty and long names are errors", () => {
    expect(readClientHello(buildHello([sniExt("a.test", "b.test")])).status).toBe("error");
    expect(readClientHello(buildHello([sniExt("a.test"), sniExt("b.test")])).status).toBe("error");
    expect(readClientHello(buildHello([[0, []]])).status).toBe("error");
    expect(readClientHello(buildHello([[0, [0, 3, 0, 0, 0]]])).status).toBe("error");
    expect(readClientHello(buildHello([sniExt(`${"a".repeat(64)}.test`)])).status).toBe("error");
    expect(readClientHello(buildHello([sniExt("[::1]")])).status).toBe("error");
  });

  test("an IP literal in host_name counts as no SNI", () => {
    expect(readClientHello(buildHello([sniExt("10.1.2.3")]))).toEqual({ status: "hello", sni: null });
    expect(readClientHello(buildHello([sniExt("::1")]))).toEqual({ status: "hello", sni: null });
  });

  test("253-character name is fine", () => {
    const name = [..."abcd"].map((c) => c.repeat(63)).join(".").slice(0, 253);
    expect(readClientHello(buildHello([sniExt(name)]))).toEqual({ status: "hello", sni: name });
  });
});
