// Deterministic randomness for the fuzzers: every input is generated from its own PRNG,
// seeded from (run seed, target, index), so one failing input is replayed alone with
// `npm run fuzz -- --seed S --target T --index I` without regenerating the ones before it.

export type Rng = () => number;

/** mulberry32: small, fast, good enough to pick mutations. Returns floats in [0, 1). */
export function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed of input `index` of target `target` in a run seeded with `seed` (FNV-1a over the three). */
export function inputSeed(seed: number, target: string, index: number): number {
  let h = 0x811c9dc5;
  const mix = (n: number) => {
    h = Math.imul(h ^ (n & 0xff), 0x01000193);
  };
  for (let i = 0; i < 4; i++) mix(seed >>> (8 * i));
  for (let i = 0; i < target.length; i++) mix(target.charCodeAt(i));
  for (let i = 0; i < 4; i++) mix(index >>> (8 * i));
  return h >>> 0;
}

export const int = (rnd: Rng, n: number): number => Math.floor(rnd() * n);
export const pick = <T>(rnd: Rng, items: readonly T[]): T => items[int(rnd, items.length)]!;

export function randomBytes(rnd: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rnd, 256);
  return out;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
