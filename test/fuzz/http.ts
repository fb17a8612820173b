// HTTP/1.x request heads (lib/http/request-head.ts) and the request-stream state
// machine (lib/http/request-stream.ts): a head either parses or is a RequestParseError;
// the stream, fed the same bytes whole or in random cuts with sync or async decisions,
// forwards the same bytes and ends the same way, ends at most once, and never holds
// more than maxHeadBytes of a partial head (plus the chunk pushed when it said stop).
import { RequestParseError, parseRequestHead, type RequestHead } from "../../lib/http/request-head.ts";
import { createRequestStream, type HeadDecision, type RequestStreamEnd } from "../../lib/http/request-stream.ts";
import { chunks } from "./mutate.ts";
import { int, pick, type Rng } from "./rng.ts";
import { check, type FuzzTarget, settle } from "./target.ts";

const enc = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

const seeds = [
  "GET / HTTP/1.1\r\nHost: app.tunnel.test\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
  "POST /upload?x=1 HTTP/1.1\r\nHost: app.tunnel.test:8443\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
  "POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
  "GET /a HTTP/1.1\r\nHost: a.test\r\n\r\nGET /b HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x05hello",
  "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n\x16\x03\x01",
  "GET http://b.test/x?y HTTP/1.1\r\nHost: other.test\r\n\r\n",
  "OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
  "\r\n\r\nPUT /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
].map(enc);

/** Huge host names and header sections around the 32 KiB head cap. */
function generate(rnd: Rng): Uint8Array {
  const len = pick(rnd, [253, 254, 4096, 32 * 1024 - 40, 32 * 1024, 100_000]);
  const host = Array.from({ length: Math.ceil(len / 64) }, () => "a".repeat(63)).join(".").slice(0, len);
  if (rnd() < 0.5) return enc(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const headers = Array.from({ length: int(rnd, 3000) }, (_, i) => `X-H${i}: ${"v".repeat(int(rnd, 40))}\r\n`).join("");
  return enc(`GET http://${host.slice(0, 300)}/ HTTP/1.1\r\nHost: h\r\n${headers}\r\n`);
}

type Mode = "forward" | "async" | "respond" | "reject" | "stop" | "throw" | "asyncThrow";

interface Result {
  forwarded: string;
  end: string;
}

async function stream(parts: Uint8Array[], mode: Mode, at: number, maxHeadBytes: number): Promise<Result> {
  const out: Buffer[] = [];
  const ends: RequestStreamEnd[] = [];
  let resumed = 0;
  const forward: HeadDecision = { action: "forward", forwardedFor: "203.0.113.7", forwardedProto: "https", forwardedHost: true };
  const decide = (h: RequestHead): HeadDecision | Promise<HeadDecision> => {
    if (h.index !== at) return forward;
    switch (mode) {
      case "forward":
        return forward;
      case "async":
        return Promise.resolve(forward);
      case "respond":
        return { action: "respond", response: enc("HTTP/1.1 401 Unauthorized\r\n\r\n") };
      case "reject":
      case "stop":
        return { action: mode };
      case "throw":
        throw new Error("decision failed");
      case "asyncThrow":
        return Promise.reject(new Error("decision failed"));
    }
  };
  const s = createRequestStream({
    maxHeadBytes,
    onHead: decide,
    onForward: (b) => {
      check(ends.length === 0, "bytes forwarded after the end");
      out.push(Buffer.from(b));
    },
    onEnd: (e) => ends.push(e),
    onResume: () => resumed++,
  });
  for (const part of parts) {
    const ok = s.push(part);
    check(s.buffered <= maxHeadBytes + part.length, `stream holds ${s.buffered} bytes, cap ${maxHeadBytes}`);
    if (!ok && s.state === "waiting") {
      // A relay stops reading until onResume; the decision settles in a few microtasks.
      const before = resumed;
      await settle();
      check(s.state !== "waiting", "an async decision that settled left the stream waiting");
      if (s.state !== "ended") check(resumed === before + 1, "no onResume after an async decision");
    }
    if (s.state === "ended") break;
  }
  check(ends.length <= 1, `${ends.length} ends`);
  const e = ends[0];
  if (e?.reason === "error" && e.response) check(Buffer.from(e.response).toString("latin1").startsWith(`HTTP/1.1 ${e.status} `), "error response does not match its status");
  if (e) check(s.state === "ended" && s.buffered === 0, "an ended stream still holds bytes");
  const end = e ? (e.reason === "error" ? `error:${e.code}:${e.status}` : e.reason) : s.state;
  s.close();
  return { forwarded: Buffer.concat(out).toString("latin1"), end };
}

export const httpTarget: FuzzTarget = {
  name: "http",
  seeds,
  generate,
  async run(input, rnd) {
    const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const endOfHead = buf.indexOf("\r\n\r\n");
    if (endOfHead >= 0) {
      try {
        const h = parseRequestHead(buf, 0, endOfHead + 4);
        check(h.names.length === h.values.length && h.values.length === h.lowerNames.length, "header arrays out of step");
        check(h.host === null || (h.host === h.host.toLowerCase() && !h.host.endsWith(".")), `routing host ${JSON.stringify(h.host)} not normalised`);
        check(h.body !== "length" || (Number.isSafeInteger(h.contentLength) && h.contentLength > 0), "bad content length");
      } catch (err) {
        if (!(err instanceof RequestParseError)) throw err;
      }
    }
    const mode = pick<Mode>(rnd, ["forward", "forward", "async", "respond", "reject", "stop", "throw", "asyncThrow"]);
    const at = int(rnd, 3);
    const maxHeadBytes = rnd() < 0.8 ? 32 * 1024 : 256;
    const whole = await stream([input], mode, at, maxHeadBytes);
    const cut = await stream(chunks(rnd, input), mode, at, maxHeadBytes);
    // A refusal stays a refusal however the bytes were cut; which 400/431 it is may differ
    // (a bare LF is seen before the head is too large), and body bytes are relayed as they
    // come, so the cut run may have passed on the valid part of a malformed chunked body.
    if (whole.end.startsWith("error:")) {
      check(cut.end.startsWith("error:"), `chunked stream ended "${cut.end}", whole "${whole.end}"`);
      check(cut.forwarded.startsWith(whole.forwarded), "chunked stream forwarded other bytes than whole");
    } else {
      check(cut.end === whole.end, `chunked stream ended "${cut.end}", whole "${whole.end}"`);
      check(cut.forwarded === whole.forwarded, "chunked stream forwarded other bytes than whole");
    }
    return whole.end;
  },
};
