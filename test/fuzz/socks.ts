// SOCKS5 (lib/socks): the pure parsers keep the invariants the 5,000-buffer unit fuzz
// in test/unit/socks/protocol.test.ts has always checked (that test now uses this
// module), and the handshake engine, fed the same bytes in random cuts with random
// verdicts and dial outcomes, ends at most once, answers with well-formed replies and
// never holds more than its documented cap.
import { createSocksHandshake, type DialResult, type HandshakeOutcome, type SocksAuth } from "../../lib/socks/handshake.ts";
import {
  AddrType,
  buildAuthRequest,
  buildGreeting,
  buildRequest,
  MAX_AUTH_REQUEST_BYTES,
  MAX_GREETING_BYTES,
  MAX_REQUEST_BYTES,
  Method,
  parseAuthReply,
  parseAuthRequest,
  parseGreeting,
  parseMethodSelection,
  parseReply,
  parseRequest,
  type ParseResult,
} from "../../lib/socks/protocol.ts";
import { FakeConnection } from "../unit/socks/fake-connection.ts";
import { chunks, concat } from "./mutate.ts";
import { int, pick, type Rng } from "./rng.ts";
import { check, type FuzzTarget, settle } from "./target.ts";

export const SOCKS_PARSERS: [string, (buf: Uint8Array) => ParseResult<unknown>, number][] = [
  ["greeting", parseGreeting, MAX_GREETING_BYTES],
  ["auth", parseAuthRequest, MAX_AUTH_REQUEST_BYTES],
  ["request", parseRequest, MAX_REQUEST_BYTES],
  ["methodSelection", parseMethodSelection, 2],
  ["authReply", parseAuthReply, 2],
  ["reply", parseReply, MAX_REQUEST_BYTES],
];

/** Mostly plausible prefixes (version bytes, small lengths, known ATYPs) so deep paths get hit. */
export function randomSocksBuffer(rnd: Rng): Uint8Array {
  const len = Math.floor(rnd() * (rnd() < 0.5 ? 40 : 600));
  const buf = new Uint8Array(len);
  for (let i = 0; i < len; i++) buf[i] = Math.floor(rnd() * 256);
  if (len > 0 && rnd() < 0.8) buf[0] = rnd() < 0.5 ? 5 : 1;
  if (len > 1 && rnd() < 0.5) buf[1] = Math.floor(rnd() * 8);
  if (len > 3 && rnd() < 0.7) buf[3] = [1, 3, 4][Math.floor(rnd() * 3)]!;
  if (len > 4 && rnd() < 0.5) buf[4] = Math.floor(rnd() * 20);
  if (len > 2 && rnd() < 0.3) buf[2] = Math.floor(rnd() * 8);
  if (rnd() < 0.3) for (let i = 5; i < Math.min(len, 40); i++) buf[i] = 0x61 + Math.floor(rnd() * 26);
  return buf;
}

const same = (a: ParseResult<unknown>, b: ParseResult<unknown>) => JSON.stringify(a) === JSON.stringify(b);

/**
 * One parser on one buffer: never throws, never reads past the longest legal message,
 * and a verdict depends only on the bytes it covers. Returns the status.
 */
export function checkSocksParser(parse: (buf: Uint8Array) => ParseResult<unknown>, max: number, buf: Uint8Array, rnd: Rng): ParseResult<unknown>["status"] {
  const r = parse(buf);
  if (r.status === "ok") {
    check(r.consumed > 0 && r.consumed <= buf.length && r.consumed <= max, `consumed ${r.consumed} of ${buf.length} (max ${max})`);
    // Any prefix of an ok message is incomplete or an error, never a different ok.
    check(parse(buf.subarray(0, int(rnd, r.consumed))).status !== "ok", "a prefix of a message parsed as a message");
  }
  // With a whole maximal message's worth of bytes there is nothing left to wait for.
  if (buf.length >= max) check(r.status !== "incomplete", `incomplete after ${buf.length} bytes (max ${max})`);
  if (r.status !== "incomplete") {
    const tail = Uint8Array.from({ length: 1 + int(rnd, 64) }, () => int(rnd, 256));
    check(same(parse(concat(buf, tail)), r), "bytes after a verdict changed it");
  }
  return r.status;
}

const seeds = [
  concat(buildGreeting([Method.NO_AUTH]), buildRequest(1, "redis.mesh.test", 6379)),
  concat(buildGreeting([Method.NO_AUTH, Method.USERNAME_PASSWORD]), buildAuthRequest("tunnel-7", "tok_" + "a".repeat(40)), buildRequest(1, "10.0.0.7", 22)),
  concat(buildGreeting([Method.USERNAME_PASSWORD]), buildAuthRequest("", "p"), buildRequest(1, "2001:db8::1", 443), new TextEncoder().encode("early data")),
  concat(buildGreeting([0, 1, 2, 3, 0x80, 0xfe]), buildRequest(2, "example.test", 80)),
  concat(buildGreeting([Method.NO_AUTH]), buildRequest(3, "1.2.3.4", 53)),
];

/** Longest legal fields: a 255-byte domain, 255-byte username and password, 255 methods. */
function generate(rnd: Rng): Uint8Array {
  const name = (n: number) => Array.from({ length: n }, () => pick(rnd, ["a", "z", "0", "-", ".", "_", ":"])).join("");
  const domain = name(1 + int(rnd, 255));
  const methods = Array.from({ length: 1 + int(rnd, 255) }, () => int(rnd, 256));
  if (rnd() < 0.5) methods.push(Method.USERNAME_PASSWORD);
  const request = Uint8Array.of(5, 1, 0, AddrType.DOMAIN, domain.length, ...new TextEncoder().encode(domain), 0x1f, 0x90);
  return concat(buildGreeting(methods.slice(0, 255)), buildAuthRequest(name(int(rnd, 256)), name(int(rnd, 256))), request);
}

type Verdict = "yes" | "no" | "throw" | "asyncYes" | "asyncNo" | "reject";
type Dial = "ok" | "refuse" | "throw" | "reject" | "never";

async function handshake(input: Uint8Array, rnd: Rng): Promise<string> {
  const verdict = pick<Verdict>(rnd, ["yes", "no", "throw", "asyncYes", "asyncNo", "reject"]);
  const dial = pick<Dial>(rnd, ["ok", "ok", "refuse", "throw", "reject", "never"]);
  const auth: SocksAuth =
    rnd() < 0.4
      ? "none"
      : {
          verify() {
            if (verdict === "throw") throw new Error("verifier failed");
            if (verdict === "reject") return Promise.reject(new Error("verifier failed"));
            if (verdict === "asyncYes" || verdict === "asyncNo") return Promise.resolve(verdict === "asyncYes");
            return verdict === "yes";
          },
        };
  const maxEarlyDataBytes = pick(rnd, [16, 1024, 64 * 1024]);
  const cap = MAX_GREETING_BYTES + MAX_AUTH_REQUEST_BYTES + MAX_REQUEST_BYTES + maxEarlyDataBytes;
  const outcomes: HandshakeOutcome[] = [];
  const sent: Uint8Array[] = [];
  const opened: FakeConnection[] = [];
  const h = createSocksHandshake({
    auth,
    maxEarlyDataBytes,
    send: (b) => {
      check(outcomes.length === 0, "bytes sent after the outcome");
      sent.push(b);
    },
    onDone: (o) => outcomes.push(o),
    resolveAndDial(): Promise<DialResult> {
      if (dial === "throw") throw new Error("dial threw");
      if (dial === "reject") return Promise.reject(new Error("dial failed"));
      if (dial === "never") return new Promise(() => {});
      if (dial === "refuse") return Promise.resolve({ ok: false, reply: 0x02 });
      const connection = new FakeConnection();
      opened.push(connection);
      return Promise.resolve({ ok: true, connection, bound: { host: "127.0.0.1", port: 40000 } });
    },
  });
  for (const part of chunks(rnd, input)) {
    h.feed(part);
    check(h.buffered <= cap, `handshake holds ${h.buffered} bytes, cap ${cap}`);
    if (rnd() < 0.3) await settle();
  }
  await settle();
  h.abort("fuzz input ended");
  await settle(); // a dial that lands after the abort is reset then
  check(outcomes.length === 1, `${outcomes.length} outcomes`);
  check(h.state === "done" && h.buffered === 0, "a finished handshake still holds bytes");
  // Every reply is a method selection (5, m), an RFC 1929 status (1, s) or a reply (5, REP, 0, ...).
  for (const b of sent) check(b.length >= 2 && (b[0] === 5 || b[0] === 1), `malformed reply ${Buffer.from(b).toString("hex")}`);
  const o = outcomes[0]!;
  if (o.kind === "connected") check(o.earlyData.length <= maxEarlyDataBytes, "more early data than allowed");
  else for (const c of opened) check(c.resets > 0, "a connection dialled for a failed handshake was not reset");
  return o.kind === "connected" ? "connected" : `failed:${o.reply ?? "silent"}`;
}

export const socksTarget: FuzzTarget = {
  name: "socks",
  seeds,
  generate: (rnd) => (rnd() < 0.5 ? generate(rnd) : randomSocksBuffer(rnd)),
  async run(input, rnd) {
    // Each parser on the input, and on the input from each message boundary on.
    for (const [, parse, max] of SOCKS_PARSERS) checkSocksParser(parse, max, input, rnd);
    const at = int(rnd, input.length + 1);
    for (const [, parse, max] of SOCKS_PARSERS) checkSocksParser(parse, max, input.subarray(at), rnd);
    return handshake(input, rnd);
  },
};
