import { describe, expect, test } from "bun:test";
import {
  type DialResult,
  type HandshakeOutcome,
  type HandshakeState,
  type SocksAuth,
  type SocksTarget,
  createSocksHandshake,
} from "../../../lib/socks/handshake.ts";
import { AddrType, Reply, buildAuthRequest, buildGreeting, buildRequest } from "../../../lib/socks/protocol.ts";
import { FakeConnection } from "./fake-connection.ts";

const b = (...bytes: number[]) => Uint8Array.from(bytes);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

interface Harness {
  feed(bytes: Uint8Array): void;
  abort(reason: string): void;
  sent(): Uint8Array;
  outcome(): HandshakeOutcome | undefined;
  done: Promise<HandshakeOutcome>;
  dials: SocksTarget[];
  states: HandshakeState[];
  readonly state: HandshakeState;
  readonly buffered: number;
}

function harness(opts: {
  auth?: SocksAuth;
  dial?: (t: SocksTarget) => Promise<DialResult>;
  timeoutMs?: number;
  dialTimeoutMs?: number;
  maxEarlyDataBytes?: number;
}): Harness {
  const out: Uint8Array[] = [];
  const dials: SocksTarget[] = [];
  const states: HandshakeState[] = [];
  let result: HandshakeOutcome | undefined;
  let settle!: (o: HandshakeOutcome) => void;
  const done = new Promise<HandshakeOutcome>((r) => (settle = r));
  let calls = 0;
  const hs = createSocksHandshake({
    auth: opts.auth ?? "none",
    resolveAndDial: async (t) => {
      dials.push(t);
      return opts.dial ? opts.dial(t) : { ok: true, connection: new FakeConnection(), bound: { host: "10.9.8.7", port: 4321 } };
    },
    send: (bytes) => out.push(bytes),
    onDone: (o) => {
      calls++;
      if (calls > 1) throw new Error("onDone called twice");
      result = o;
      settle(o);
    },
    onState: (s) => states.push(s),
    timeoutMs: opts.timeoutMs ?? 5000,
    dialTimeoutMs: opts.dialTimeoutMs,
    maxEarlyDataBytes: opts.maxEarlyDataBytes,
  });
  return {
    feed: (bytes) => hs.feed(bytes),
    abort: (r) => hs.abort(r),
    sent: () => concat(...out),
    outcome: () => result,
    done,
    dials,
    states,
    get state() {
      return hs.state;
    },
    get buffered() {
      return hs.buffered;
    },
  };
}

const tokenAuth: SocksAuth = { verify: async (u, p) => p === "secret-token" };
const greetingUserPass = buildGreeting([0x00, 0x02]);
const goodAuth = buildAuthRequest("u", "secret-token");
const connectReq = buildRequest(1, "app.internal", 8443);
const successReply = b(5, 0, 0, 1, 10, 9, 8, 7, 0x10, 0xe1);

describe("handshake", () => {
  test("every split point of greeting + auth + request + early data", async () => {
    const early = new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n");
    const all = concat(greetingUserPass, goodAuth, connectReq, early);
    for (let split = 0; split <= all.length; split++) {
      // The dial lands only after all bytes are in, so everything after the request is early data.
      let land!: () => void;
      const gate = new Promise<void>((r) => (land = r));
      const h = harness({
        auth: tokenAuth,
        dial: async () => {
          await gate;
          return { ok: true, connection: new FakeConnection(), bound: { host: "10.9.8.7", port: 4321 } };
        },
      });
      h.feed(all.subarray(0, split));
      // Verification is async: give it a turn before the rest, as a network would.
      await Bun.sleep(0);
      h.feed(all.subarray(split));
      land();
      const o = await h.done;
      expect(o.kind).toBe("connected");
      if (o.kind !== "connected") continue;
      expect(o.target).toEqual({ host: "app.internal", port: 8443, addrType: AddrType.DOMAIN });
      expect(o.username).toBe("u");
      expect({ split, early: o.earlyData }).toEqual({ split, early });
      expect(h.sent()).toEqual(concat(b(5, 2), b(1, 0), successReply));
    }
  });

  test("byte by byte, without waiting between bytes", async () => {
    const all = concat(greetingUserPass, goodAuth, connectReq);
    const h = harness({ auth: tokenAuth });
    for (const byte of all) h.feed(b(byte));
    const o = await h.done;
    expect(o.kind).toBe("connected");
    expect(h.dials).toHaveLength(1);
    expect(h.states).toEqual(["auth", "verifying", "request", "dialing"]);
  });

  test("no auth: method 0x00, straight to the request", async () => {
    const h = harness({});
    h.feed(concat(buildGreeting([0]), buildRequest(1, "10.1.2.3", 22)));
    const o = await h.done;
    expect(o.kind === "connected" && o.target).toEqual({ host: "10.1.2.3", port: 22, addrType: AddrType.IPV4 });
    expect(h.sent().subarray(0, 2)).toEqual(b(5, 0));
  });

  test("no auth configured but the client offers only username/password: any credentials pass", async () => {
    const h = harness({});
    h.feed(concat(buildGreeting([2]), buildAuthRequest("x", "y"), buildRequest(1, "h.test", 1)));
    expect((await h.done).kind).toBe("connected");
    expect(h.sent().subarray(0, 4)).toEqual(b(5, 2, 1, 0));
  });

  test("auth required and the client offers no 0x02: 0xFF and close", async () => {
    const h = harness({ auth: tokenAuth });
    h.feed(buildGreeting([0x00, 0x01]));
    const o = await h.done;
    expect(o).toMatchObject({ kind: "failed", reply: 0xff });
    expect(h.sent()).toEqual(b(5, 0xff));
    expect(h.dials).toHaveLength(0);
  });

  test("wrong password: RFC 1929 failure status, no dial", async () => {
    const h = harness({ auth: tokenAuth });
    h.feed(concat(greetingUserPass, buildAuthRequest("u", "wrong"), connectReq));
    const o = await h.done;
    expect(o).toMatchObject({ kind: "failed", reason: "authentication failed", username: "u" });
    expect(h.sent()).toEqual(b(5, 2, 1, 1));
    expect(h.dials).toHaveLength(0);
  });

  test("a verifier that throws counts as a failed login", async () => {
    const h = harness({
      auth: {
        verify: () => {
          throw new Error("db down");
        },
      },
    });
    h.feed(concat(greetingUserPass, goodAuth));
    expect((await h.done).kind).toBe("failed");
    expect(h.sent()).toEqual(b(5, 2, 1, 1));
  });

  test.each([
    ["BIND", 2],
    ["UDP ASSOCIATE", 3],
    ["unknown command", 0x7f],
  ])("%s gets 0x07", async (_n, cmd) => {
    const h = harness({});
    h.feed(concat(buildGreeting([0]), buildRequest(cmd, "10.0.0.1", 53)));
    const o = await h.done;
    expect(o).toMatchObject({ kind: "failed", reply: Reply.COMMAND_NOT_SUPPORTED });
    expect(h.sent()).toEqual(concat(b(5, 0), b(5, 7, 0, 1, 0, 0, 0, 0, 0, 0)));
    expect(h.dials).toHaveLength(0);
  });

  test("unknown address type gets 0x08", async () => {
    const h = harness({});
    h.feed(concat(buildGreeting([0]), b(5, 1, 0, 9, 1, 2, 3, 4, 0, 80)));
    expect(await h.done).toMatchObject({ kind: "failed", reply: Reply.ADDRESS_TYPE_NOT_SUPPORTED });
    expect(h.sent()[h.sent().length - 9]).toBe(8);
  });

  test("a refusal from the dialer is passed to the client", async () => {
    const h = harness({ dial: async () => ({ ok: false, reply: Reply.NOT_ALLOWED, reason: "not on the allow-list" }) });
    h.feed(concat(buildGreeting([0]), buildRequest(1, "evil.test", 25)));
    expect(await h.done).toMatchObject({ kind: "failed", reply: 2, reason: "not on the allow-list" });
    expect(h.sent()).toEqual(concat(b(5, 0), b(5, 2, 0, 1, 0, 0, 0, 0, 0, 0)));
  });

  test("a dialer that rejects gives 0x01", async () => {
    const h = harness({ dial: async () => Promise.reject(new Error("boom")) });
    h.feed(concat(buildGreeting([0]), buildRequest(1, "x.test", 1)));
    expect(await h.done).toMatchObject({ kind: "failed", reply: Reply.GENERAL_FAILURE });
  });

  test("wrong version byte: fail without a reply", async () => {
    const h = harness({});
    h.feed(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
    expect(await h.done).toMatchObject({ kind: "failed", reply: undefined });
    expect(h.sent()).toHaveLength(0);
  });

  test("slow loris: a trickling client is cut at the deadline", async () => {
    const h = harness({ timeoutMs: 150 });
    const started = Date.now();
    h.feed(b(5));
    await Bun.sleep(50);
    h.feed(b(1));
    const o = await h.done;
    expect(o).toMatchObject({ kind: "failed", reason: "handshake timed out" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(h.sent()).toHaveLength(0);
  });

  test("the deadline also covers a slow verifier", async () => {
    const h = harness({ auth: { verify: () => new Promise<boolean>(() => {}) }, timeoutMs: 100 });
    h.feed(concat(greetingUserPass, goodAuth));
    expect(await h.done).toMatchObject({ kind: "failed", reason: "handshake timed out" });
  });

  test("a dial that outlives dialTimeoutMs: 0x04 now, the late connection is reset", async () => {
    const late = new FakeConnection();
    let land!: () => void;
    const h = harness({
      dialTimeoutMs: 50,
      dial: () => new Promise((r) => (land = () => r({ ok: true, connection: late }))),
    });
    h.feed(concat(buildGreeting([0]), buildRequest(1, "slow.test", 80)));
    expect(await h.done).toMatchObject({ kind: "failed", reply: Reply.HOST_UNREACHABLE, reason: "connect timed out" });
    land();
    await Bun.sleep(0);
    expect(late.resets).toBe(1);
  });

  test("the client leaves while dialing: the connection that lands is reset", async () => {
    const late = new FakeConnection();
    let land!: () => void;
    const h = harness({ dial: () => new Promise((r) => (land = () => r({ ok: true, connection: late }))) });
    h.feed(concat(buildGreeting([0]), buildRequest(1, "x.test", 80)));
    expect(h.state).toBe("dialing");
    h.abort("client closed");
    expect(h.outcome()).toMatchObject({ kind: "failed", reason: "client closed" });
    land();
    await Bun.sleep(0);
    expect(late.resets).toBe(1);
  });

  test("a flood before the handshake completes is cut off", async () => {
    const h = harness({ auth: { verify: () => new Promise<boolean>(() => {}) } });
    h.feed(concat(greetingUserPass, goodAuth));
    h.feed(new Uint8Array(200_000));
    expect(h.outcome()).toMatchObject({ kind: "failed", reason: "handshake too large" });
  });

  test("early data beyond the cap while dialing fails the session", async () => {
    const h = harness({ maxEarlyDataBytes: 1000, dial: () => new Promise(() => {}) });
    h.feed(concat(buildGreeting([0]), buildRequest(1, "x.test", 80), new Uint8Array(600)));
    expect(h.outcome()).toBeUndefined();
    h.feed(new Uint8Array(600));
    expect(h.outcome()).toMatchObject({ kind: "failed", reason: "too much data before the connect reply" });
  });

  test("early data beyond the cap in the same read as the request fails too (found by npm run fuzz)", async () => {
    // Before the fix the handshake-size limit (about 1 KiB more than the cap) applied to
    // bytes arriving with the request, and they all came out as early data.
    const h = harness({ maxEarlyDataBytes: 16, dial: () => new Promise(() => {}) });
    h.feed(concat(buildGreeting([0]), buildRequest(1, "x.test", 80), new Uint8Array(17)));
    expect(h.outcome()).toMatchObject({ kind: "failed", reason: "too much data before the connect reply" });
    expect(h.dials).toHaveLength(0);
    expect(h.buffered).toBe(0);
    const ok = harness({ maxEarlyDataBytes: 16, dial: () => new Promise(() => {}) });
    ok.feed(concat(buildGreeting([0]), buildRequest(1, "x.test", 80), new Uint8Array(16)));
    expect(ok.outcome()).toBeUndefined();
    expect(ok.buffered).toBe(16);
    ok.abort("test over");
  });

  test("bytes after the outcome are ignored", async () => {
    const h = harness({});
    h.feed(b(4, 1));
    await h.done;
    h.feed(concat(buildGreeting([0]), buildRequest(1, "x.test", 80)));
    expect(h.dials).toHaveLength(0);
  });
});
