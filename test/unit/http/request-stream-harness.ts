// Drives a request stream the way a relay does: bytes pushed in cuts, every
// callback recorded, so head parsing, rewriting and framing are tested as one.
import { expect } from "bun:test";
import {
  createRequestStream,
  type HeadDecision,
  type RequestStreamEnd,
  type RequestStreamOptions,
} from "../../../lib/http/request-stream.ts";
import type { RequestHead } from "../../../lib/http/request-head.ts";

export const enc = (s: string) => Buffer.from(s, "latin1");
export const dec = (b: Uint8Array) => Buffer.from(b).toString("latin1");

export interface Run {
  forwarded: string;
  heads: RequestHead[];
  ends: RequestStreamEnd[];
  pushResults: boolean[];
}

export const EDITS: HeadDecision = { action: "forward", forwardedFor: "203.0.113.7", forwardedProto: "https", forwardedHost: true };

/** Pushes `input` cut at `cuts` through a stream whose onHead answers `decide`. */
export function run(input: string | Uint8Array, cuts: number[] = [], decide: (h: RequestHead) => HeadDecision = () => EDITS, opts: Partial<RequestStreamOptions> = {}): Run {
  const bytes = typeof input === "string" ? enc(input) : input;
  const parts: Buffer[] = [];
  const r: Run = { forwarded: "", heads: [], ends: [], pushResults: [] };
  const stream = createRequestStream({
    onHead: (h) => {
      r.heads.push(h);
      return decide(h);
    },
    onForward: (b) => parts.push(Buffer.from(b)),
    onEnd: (e) => r.ends.push(e),
    ...opts,
  });
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    r.pushResults.push(stream.push(bytes.subarray(prev, c)));
    prev = c;
  }
  r.forwarded = dec(Buffer.concat(parts));
  return r;
}

export function expectError(input: string, code: string, status: number): RequestStreamEnd & { reason: "error" } {
  const r = run(input);
  expect(r.ends.length).toBe(1);
  const end = r.ends[0];
  expect(end.reason).toBe("error");
  if (end.reason !== "error") throw new Error("unreachable");
  expect([end.code as string, end.status]).toEqual([code, status]);
  if (end.response) expect(dec(end.response)).toStartWith(`HTTP/1.1 ${status} `);
  return end;
}
