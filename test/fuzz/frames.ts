// Frame decoder (lib/protocol): chunked decoding must give exactly what whole decoding
// gives, every frame must round-trip, a bad frame is a ProtocolError and nothing else,
// and the decoder never holds more than one header plus one payload of the limit.
import {
  dataFrame,
  decodeFrames,
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  type FrameDecoderOptions,
  FrameType,
  finFrame,
  goAwayFrame,
  messageFrame,
  openFrame,
  pingFrame,
  pongFrame,
  ProtocolError,
  rstFrame,
  toFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "../../lib/protocol/index.ts";
import { chunks } from "./mutate.ts";
import { int, pick, randomBytes, type Rng } from "./rng.ts";
import { check, type FuzzTarget } from "./target.ts";

const te = new TextEncoder();
const LIMITS: FrameDecoderOptions[] = [{}, { maxPayload: 1024 }, { maxPayload: 64, maxMessagePayload: 4096 }];

const seeds = [
  encodeFrames([
    openFrame(1, te.encode(JSON.stringify({ kind: "http", host: "a.example.test", remote: "203.0.113.9:5555" }))),
    windowUpdateFrame(1, 1 << 20),
    dataFrame(1, te.encode("GET / HTTP/1.1\r\nHost: a.example.test\r\n\r\n")),
    finFrame(1),
  ]),
  encodeFrames([dataFrame(3, new Uint8Array(3000).fill(7)), rstFrame(3, 2), rstFrame(5, 200)]),
  encodeFrames([pingFrame(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), pongFrame(new Uint8Array(8))]),
  encodeFrames([messageFrame(te.encode(JSON.stringify({ type: "login", token: "x".repeat(40), version: 1 }))), goAwayFrame(1, "bye ✓")]),
  encodeFrame(dataFrame(0xffff_ffff, new Uint8Array(0))),
  encodeFrame(messageFrame(new Uint8Array(0))),
];

/** A header that announces `length` bytes, followed by some of them: the buffering edge. */
function generate(rnd: Rng): Uint8Array {
  const type = pick(rnd, [FrameType.DATA, FrameType.OPEN, FrameType.MESSAGE, FrameType.GOAWAY, FrameType.WINDOW_UPDATE, 0x00, 0x0a, 0xff]);
  const streamId = type === FrameType.MESSAGE || type === FrameType.GOAWAY ? 0 : pick(rnd, [1, 2, 0x7fff_ffff, 0xffff_ffff]);
  const length = pick(rnd, [0, 1, 4, 64, 65, 1024, 1025, 4096, 4097, 256 * 1024, 256 * 1024 + 1, 0x7fff_ffff, 0xffff_ffff]);
  const body = randomBytes(rnd, Math.min(length, int(rnd, 8192)));
  const out = new Uint8Array(FRAME_HEADER_SIZE + body.length);
  writeFrameHeader(out, 0, type, streamId, length);
  out.set(body, FRAME_HEADER_SIZE);
  return out;
}

interface Decoded {
  frames: string[];
  error: string;
}

function decode(parts: Uint8Array[], opts: FrameDecoderOptions): Decoded {
  const maxPayload = opts.maxPayload ?? 256 * 1024;
  const cap = FRAME_HEADER_SIZE + Math.max(maxPayload, opts.maxMessagePayload ?? maxPayload);
  const frames: string[] = [];
  const d = new FrameDecoder((type, sid, payload) => {
    check(payload.byteLength <= (type === FrameType.MESSAGE ? (opts.maxMessagePayload ?? maxPayload) : maxPayload), "payload over the limit delivered");
    const f = toFrame(type, sid, payload);
    if (f.type !== FrameType.GOAWAY) {
      // A delivered frame re-encodes to the bytes it came from (GOAWAY reasons are lossy UTF-8).
      const again = encodeFrame(f);
      check(again.byteLength === FRAME_HEADER_SIZE + payload.byteLength, "re-encoded frame has another length");
      check(Buffer.compare(again.subarray(FRAME_HEADER_SIZE), payload) === 0, "re-encoded frame has other bytes");
    }
    frames.push(`${type}/${sid}/${Buffer.from(payload).toString("base64")}`);
  }, opts);
  for (const p of parts) {
    try {
      d.push(p);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      // A failed decoder stays failed with the same error.
      let again: unknown;
      try {
        d.push(Uint8Array.of(1));
      } catch (e) {
        again = e;
      }
      check(again === err, "a failed decoder accepted more input");
      return { frames, error: err.code };
    }
    check(d.buffered <= cap, `decoder holds ${d.buffered} bytes, cap ${cap}`);
  }
  try {
    d.finish();
  } catch (err) {
    if (!(err instanceof ProtocolError) || err.code !== "TRUNCATED") throw err;
    return { frames, error: err.code };
  }
  return { frames, error: "" };
}

export const framesTarget: FuzzTarget = {
  name: "frames",
  seeds,
  generate,
  run(input, rnd) {
    const opts = pick(rnd, LIMITS);
    const whole = decode([input], opts);
    const cut = decode(chunks(rnd, input), opts);
    check(cut.error === whole.error, `chunked decoding ended with "${cut.error}", whole with "${whole.error}"`);
    check(cut.frames.join() === whole.frames.join(), "chunked decoding gave other frames than whole decoding");
    if (!whole.error) check(decodeFrames(input, opts).length === whole.frames.length, "decodeFrames disagrees");
    return whole.error ? `error:${whole.error}` : `ok:${Math.min(whole.frames.length, 3)}${whole.frames.length > 3 ? "+" : ""}`;
  },
};
