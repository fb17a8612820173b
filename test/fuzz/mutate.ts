// Generic mutations of a valid message: the kinds of damage the issue asks for (bit
// flips, truncation at every offset, length fields set to extremes, inserted and
// repeated bytes, splices of two messages) plus plain random bytes. Target-specific
// inputs (huge hostnames, oversized length headers) come from each target's seeds.
import { int, pick, randomBytes, type Rng } from "./rng.ts";

const EXTREMES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** A fresh array (never a Buffer view: mutations copy seeds with slice()). */
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

export type MutationName = "asIs" | "bitFlip" | "truncate" | "lengthExtreme" | "byteSet" | "insert" | "delete" | "repeat" | "splice" | "random";

/**
 * Applies one mutation chosen by `rnd`. `index` walks truncation through every offset
 * of the seed over successive inputs, so each cut point is covered, not just sampled.
 */
export function mutate(rnd: Rng, seeds: readonly Uint8Array[], index: number): { input: Uint8Array; mutation: MutationName } {
  const seed = pick(rnd, seeds);
  const r = rnd();
  const n = seed.length;
  if (r < 0.05) return { input: seed, mutation: "asIs" };
  if (r < 0.25) {
    const out = seed.slice();
    const flips = 1 + int(rnd, rnd() < 0.7 ? 2 : 16);
    for (let i = 0; i < flips && n > 0; i++) out[int(rnd, n)]! ^= 1 << int(rnd, 8);
    return { input: out, mutation: "bitFlip" };
  }
  if (r < 0.4) return { input: seed.subarray(0, index % (n + 1)), mutation: "truncate" };
  if (r < 0.55) {
    // A 1-4 byte window (a length field, wherever it is) set to an extreme value.
    const out = seed.slice();
    if (n === 0) return { input: out, mutation: "lengthExtreme" };
    const at = int(rnd, n);
    const width = 1 + int(rnd, 4);
    const fill = pick(rnd, EXTREMES);
    for (let i = at; i < Math.min(n, at + width); i++) out[i] = fill;
    return { input: out, mutation: "lengthExtreme" };
  }
  if (r < 0.62) {
    const out = seed.slice();
    for (let i = 0, k = 1 + int(rnd, 4); i < k && n > 0; i++) out[int(rnd, n)] = int(rnd, 256);
    return { input: out, mutation: "byteSet" };
  }
  if (r < 0.7) {
    const at = int(rnd, n + 1);
    return { input: concat(seed.subarray(0, at), randomBytes(rnd, 1 + int(rnd, 32)), seed.subarray(at)), mutation: "insert" };
  }
  if (r < 0.76) {
    const at = int(rnd, n + 1);
    return { input: concat(seed.subarray(0, at), seed.subarray(Math.min(n, at + 1 + int(rnd, 16)))), mutation: "delete" };
  }
  if (r < 0.82) {
    // A slice repeated many times: long header lists, many frames, many records.
    const at = int(rnd, n + 1);
    const part = seed.subarray(at, Math.min(n, at + 1 + int(rnd, 64)));
    const times = 2 + int(rnd, rnd() < 0.9 ? 8 : 2000);
    return { input: concat(seed.subarray(0, at), ...Array.from({ length: times }, () => part), seed.subarray(at)), mutation: "repeat" };
  }
  if (r < 0.9) {
    const other = pick(rnd, seeds);
    return { input: concat(seed.subarray(0, int(rnd, n + 1)), other.subarray(int(rnd, other.length + 1))), mutation: "splice" };
  }
  return { input: randomBytes(rnd, int(rnd, rnd() < 0.8 ? 64 : 4096)), mutation: "random" };
}

/**
 * Cuts an input into chunks the way reads arrive: whole, byte by byte, or at random
 * boundaries. The same input is often also run whole and the results compared.
 */
export function chunks(rnd: Rng, input: Uint8Array): Uint8Array[] {
  const r = rnd();
  if (r < 0.25 || input.length === 0) return [input];
  if (r < 0.35 && input.length <= 2048) return Array.from(input, (_, i) => input.subarray(i, i + 1));
  const out: Uint8Array[] = [];
  const avg = 1 + int(rnd, Math.max(1, input.length >> 1));
  for (let at = 0; at < input.length; ) {
    const n = 1 + int(rnd, 2 * avg);
    out.push(input.subarray(at, at + n));
    at += n;
  }
  return out;
}

export { concat };
