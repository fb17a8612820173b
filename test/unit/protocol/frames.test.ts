import { describe, expect, test } from "bun:test";
import {
  DEFAULT_MAX_PAYLOAD,
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameType,
  GoAwayCode,
  ProtocolError,
  RstCode,
  dataFrame,
  decodeFrames,
  describeFrame,
  encodeFrame,
  encodeFrames,
  finFrame,
  goAwayFrame,
  messageFrame,
  openFrame,
  pingFrame,
  pongFrame,
  rstFrame,
  toFrame,
  windowUpdateFrame,
  writeFrameHeader,
  type Frame,
} from "../../../lib/protocol/index.ts";

const enc = new TextEncoder();

function sampleFrames(): Frame[] {
  const big = new Uint8Array(3000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  return [
    openFrame(1, enc.encode(JSON.stringify({ t: "tcp", p: 22000, r: "1.2.3.4:5" }))),
    openFrame(0xffff_fffe, new Uint8Array(0)),
    dataFrame(1, enc.encode("hello")),
    dataFrame(2, big),
    dataFrame(3, new Uint8Array(0)),
    windowUpdateFrame(1, 65536),
    windowUpdateFrame(7, 0xffff_ffff),
    finFrame(1),
    rstFrame(5, RstCode.FLOW_CONTROL),
    rstFrame(9, 200),
    pingFrame(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])),
    pongFrame(new Uint8Array([8, 7, 6, 5, 4, 3, 2, 1])),
    messageFrame(enc.encode('{"type":"hello"}')),
    messageFrame(new Uint8Array(0)),
    goAwayFrame(GoAwayCode.NORMAL),
    goAwayFrame(GoAwayCode.PROTOCOL_ERROR, "bad frame — ünïcode"),
  ];
}

/** Comparable form: payload views become plain arrays. */
function plain(f: Frame): unknown {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) o[k] = v instanceof Uint8Array ? Array.from(v) : v;
  return o;
}

function decodeChunks(chunks: Uint8Array[]): Frame[] {
  const out: Frame[] = [];
  const d = new FrameDecoder((t, s, p) => out.push(toFrame(t, s, p.slice())));
  for (const c of chunks) d.push(c);
  d.finish();
  return out;
}

function expectProtocolError(fn: () => void, code: string) {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code).toBe(code as ProtocolError["code"]);
}

describe("frame round trips", () => {
  const frames = sampleFrames();
  const wire = encodeFrames(frames);
  const expected = frames.map(plain);

  test("every frame type encodes and decodes back", () => {
    const types = new Set(frames.map((f) => f.type));
    for (const t of Object.values(FrameType)) expect(types.has(t)).toBe(true);
    expect(decodeFrames(wire).map(plain)).toEqual(expected);
    for (const f of frames) expect(decodeFrames(encodeFrame(f)).map(plain)).toEqual([plain(f)]);
  });

  test("a split at every byte offset decodes the same frames", () => {
    for (let k = 0; k <= wire.length; k++) {
      const got = decodeChunks([wire.subarray(0, k), wire.subarray(k)]);
      if (got.length !== frames.length) throw new Error(`split at ${k}: ${got.length} frames`);
      expect(got.map(plain)).toEqual(expected);
    }
  });

  test("byte-by-byte and random chunking decode the same frames", () => {
    const ones: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i++) ones.push(wire.subarray(i, i + 1));
    expect(decodeChunks(ones).map(plain)).toEqual(expected);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let round = 0; round < 200; round++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < wire.length; ) {
        const n = 1 + (rnd() % 700);
        chunks.push(wire.subarray(i, i + n));
        i += n;
      }
      expect(decodeChunks(chunks).map(plain)).toEqual(expected);
    }
  });

  test("whole frames in one chunk are views, not copies", () => {
    const f = encodeFrame(dataFrame(3, new Uint8Array([9, 9, 9])));
    let payload: Uint8Array | undefined;
    new FrameDecoder((_t, _s, p) => (payload = p)).push(f);
    expect(payload!.buffer).toBe(f.buffer);
    expect(payload!.byteOffset).toBe(FRAME_HEADER_SIZE);
  });

  test("describeFrame gives one readable line per frame", () => {
    const lines = frames.map(describeFrame);
    expect(lines[0]).toContain('OPEN stream=1 meta="{');
    expect(lines[2]).toBe("DATA stream=1 len=5");
    expect(lines[5]).toBe("WINDOW_UPDATE stream=1 increment=65536");
    expect(lines[8]).toBe("RST stream=5 code=FLOW_CONTROL");
    expect(lines[9]).toBe("RST stream=9 code=code 200");
    expect(lines[10]).toBe("PING opaque=0102030405060708");
    expect(lines[15]).toContain("GOAWAY code=PROTOCOL_ERROR reason=");
    for (const l of lines) expect(l).not.toContain("\n");
  });

  test("encoders refuse invalid structs", () => {
    expect(() => encodeFrame(dataFrame(0, new Uint8Array(1)))).toThrow(RangeError);
    expect(() => encodeFrame({ ...messageFrame(new Uint8Array(0)), streamId: 3 } as never)).toThrow(RangeError);
    expect(() => encodeFrame(windowUpdateFrame(1, 0))).toThrow(RangeError);
    expect(() => encodeFrame(pingFrame(new Uint8Array(7)))).toThrow(RangeError);
    expect(() => encodeFrame(rstFrame(1, 256))).toThrow(RangeError);
  });

  test("a long GOAWAY reason is cut on a UTF-8 boundary", () => {
    const f = decodeFrames(encodeFrame(goAwayFrame(1, "é".repeat(2000))))[0]!;
    expect(f.type).toBe(FrameType.GOAWAY);
    const reason = (f as { reason: string }).reason;
    expect(reason.length).toBe(512);
    expect(reason).not.toContain("\ufffd");
  });
});

describe("hostile input", () => {
  function header(type: number, sid: number, len: number): Uint8Array {
    const b = new Uint8Array(FRAME_HEADER_SIZE);
    writeFrameHeader(b, 0, type, sid, len);
    return b;
  }

  test("an oversized frame is rejected from its header, before any payload is buffered", () => {
    const d = new FrameDecoder(() => {}, { maxPayload: 1024 });
    expectProtocolError(() => d.push(header(FrameType.DATA, 1, 1025)), "FRAME_TOO_LARGE");
    expect(d.buffered).toBe(0);
    // Default limit.
    expectProtocolError(() => new FrameDecoder(() => {}).push(header(FrameType.OPEN, 1, DEFAULT_MAX_PAYLOAD + 1)), "FRAME_TOO_LARGE");
    expectProtocolError(() => new FrameDecoder(() => {}).push(header(FrameType.DATA, 1, 0xffff_ffff)), "FRAME_TOO_LARGE");
  });

  test("MESSAGE may have its own larger limit", () => {
    const got: number[] = [];
    const d = new FrameDecoder((_t, _s, p) => got.push(p.length), { maxPayload: 1024, maxMessagePayload: 4096 });
    d.push(encodeFrame(messageFrame(new Uint8Array(4096))));
    expect(got).toEqual([4096]);
    expectProtocolError(() => d.push(header(FrameType.DATA, 1, 2048)), "FRAME_TOO_LARGE");
  });

  test("unknown types are rejected", () => {
    for (const t of [0x00, 0x0a, 0x7f, 0xff]) {
      expectProtocolError(() => new FrameDecoder(() => {}).push(header(t, 1, 0)), "UNKNOWN_TYPE");
    }
  });

  test("stream frames on stream 0 and session frames on a stream are rejected", () => {
    for (const t of [FrameType.OPEN, FrameType.DATA, FrameType.WINDOW_UPDATE, FrameType.FIN, FrameType.RST]) {
      expectProtocolError(() => new FrameDecoder(() => {}).push(header(t, 0, 0)), "BAD_STREAM_ID");
    }
    for (const t of [FrameType.PING, FrameType.PONG, FrameType.MESSAGE, FrameType.GOAWAY]) {
      expectProtocolError(() => new FrameDecoder(() => {}).push(header(t, 3, 8)), "BAD_STREAM_ID");
    }
  });

  test("fixed-size payloads with the wrong length are rejected", () => {
    const cases: [number, number][] = [
      [FrameType.WINDOW_UPDATE, 3],
      [FrameType.WINDOW_UPDATE, 8],
      [FrameType.FIN, 1],
      [FrameType.RST, 0],
      [FrameType.RST, 2],
    ];
    for (const [t, len] of cases) expectProtocolError(() => new FrameDecoder(() => {}).push(header(t, 1, len)), "BAD_LENGTH");
    for (const [t, len] of [
      [FrameType.PING, 7],
      [FrameType.PONG, 9],
      [FrameType.GOAWAY, 0],
    ] as const) {
      expectProtocolError(() => new FrameDecoder(() => {}).push(header(t, 0, len)), "BAD_LENGTH");
    }
  });

  test("a zero window increment is malformed", () => {
    const b = new Uint8Array(13);
    writeFrameHeader(b, 0, FrameType.WINDOW_UPDATE, 1, 4);
    expectProtocolError(() => new FrameDecoder(() => {}).push(b), "BAD_PAYLOAD");
    // Also when the payload arrives in pieces.
    const d = new FrameDecoder(() => {});
    d.push(b.subarray(0, 11));
    expectProtocolError(() => d.push(b.subarray(11)), "BAD_PAYLOAD");
  });

  test("a truncated frame followed by end of stream is reported", () => {
    const wire = encodeFrame(dataFrame(1, new Uint8Array(100)));
    for (const cut of [1, 5, FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + 50, wire.length - 1]) {
      const d = new FrameDecoder(() => {});
      d.push(wire.subarray(0, cut));
      expect(d.buffered).toBe(cut);
      expectProtocolError(() => d.finish(), "TRUNCATED");
    }
    const d = new FrameDecoder(() => {});
    d.push(wire);
    d.finish();
  });

  test("after an error the decoder stays failed with the same error", () => {
    const got: number[] = [];
    const d = new FrameDecoder((t) => got.push(t));
    const good = encodeFrame(finFrame(1));
    const bad = header(0x42, 1, 0);
    const chunk = new Uint8Array([...good, ...bad, ...good]);
    expectProtocolError(() => d.push(chunk), "UNKNOWN_TYPE");
    expect(got).toEqual([FrameType.FIN]);
    const first = d.error;
    expect(() => d.push(good)).toThrow(first as Error);
    expect(got).toEqual([FrameType.FIN]);
  });

  test("garbage never escapes as anything but a ProtocolError, and buffering stays bounded", () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1664525 + 1013904223) >>> 0), seed);
    const max = 4096;
    let errors = 0;
    for (let round = 0; round < 2000; round++) {
      const d = new FrameDecoder(() => {}, { maxPayload: max });
      const len = rnd() % 300;
      const junk = new Uint8Array(len);
      for (let i = 0; i < len; i++) junk[i] = rnd() & 0xff;
      // Bias some rounds toward plausible headers so the payload paths get exercised.
      if (round % 3 === 0 && len >= 9) {
        junk[0] = 1 + (rnd() % 9);
        junk[5] = 0;
        junk[6] = 0;
        junk[7] = rnd() % 16;
      }
      try {
        for (let i = 0; i < len; ) {
          const n = 1 + (rnd() % 40);
          d.push(junk.subarray(i, i + n));
          i += n;
          expect(d.buffered).toBeLessThanOrEqual(FRAME_HEADER_SIZE + max);
        }
        d.finish();
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1000);
  });

  test("a handler that stops the decoder ends delivery mid-chunk", () => {
    const got: number[] = [];
    const d = new FrameDecoder((t) => {
      got.push(t);
      d.stop();
    });
    d.push(encodeFrames([finFrame(1), finFrame(3)]));
    expect(got).toEqual([FrameType.FIN]);
    d.push(encodeFrame(finFrame(5)));
    expect(got).toEqual([FrameType.FIN]);
  });
});
