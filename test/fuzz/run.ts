// Runs the fuzz targets: per input a PRNG from (seed, target, index), a mutation of a
// valid message (or a target-specific hostile input), then the target's checks.
// Used by scripts/fuzz.ts (npm run fuzz, a million inputs) and by the unit test slice.
import { clientHelloTarget } from "./client-hello.ts";
import { framesTarget } from "./frames.ts";
import { httpTarget } from "./http.ts";
import { mutate } from "./mutate.ts";
import { hex, inputSeed, prng } from "./rng.ts";
import { socksTarget } from "./socks.ts";
import type { FuzzTarget } from "./target.ts";

export const FUZZ_TARGETS: FuzzTarget[] = [framesTarget, socksTarget, clientHelloTarget, httpTarget];

export interface FuzzCrash {
  target: string;
  seed: number;
  index: number;
  mutation: string;
  error: string;
  inputHex: string;
}

export interface TargetReport {
  name: string;
  inputs: number;
  bytes: number;
  ms: number;
  outcomes: Map<string, number>;
  mutations: Map<string, number>;
}

export interface FuzzReport {
  seed: number;
  targets: TargetReport[];
  crashes: FuzzCrash[];
  /** RSS when the run started (in a shared process, such as the test runner, most of it is not ours). */
  startRssBytes: number;
  peakRssBytes: number;
}

/** The input `index` of `target` for `seed`, and the PRNG state the run continues with. */
export function fuzzInput(target: FuzzTarget, seed: number, index: number) {
  const rnd = prng(inputSeed(seed, target.name, index));
  if (target.generate && rnd() < 0.1) return { rnd, input: target.generate(rnd), mutation: "generated" };
  const m = mutate(rnd, target.seeds, index);
  return { rnd, input: m.input, mutation: m.mutation as string };
}

export interface FuzzOptions {
  seed: number;
  /** Inputs per target. */
  count: number;
  targets?: FuzzTarget[];
  /** Only this input (replaying a crash). */
  index?: number;
  /** Stop a target after this many crashes. */
  maxCrashes?: number;
  onProgress?(target: string, done: number): void;
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const startRssBytes = process.memoryUsage().rss;
  const report: FuzzReport = { seed: opts.seed, targets: [], crashes: [], startRssBytes, peakRssBytes: startRssBytes };
  for (const target of opts.targets ?? FUZZ_TARGETS) {
    const t: TargetReport = { name: target.name, inputs: 0, bytes: 0, ms: 0, outcomes: new Map(), mutations: new Map() };
    report.targets.push(t);
    const started = performance.now();
    let crashes = 0;
    const first = opts.index ?? 0;
    const last = opts.index !== undefined ? opts.index + 1 : opts.count;
    for (let i = first; i < last; i++) {
      const { rnd, input, mutation } = fuzzInput(target, opts.seed, i);
      t.inputs++;
      t.bytes += input.length;
      t.mutations.set(mutation, (t.mutations.get(mutation) ?? 0) + 1);
      try {
        const outcome = await target.run(input, rnd);
        t.outcomes.set(outcome, (t.outcomes.get(outcome) ?? 0) + 1);
      } catch (err) {
        crashes++;
        report.crashes.push({
          target: target.name,
          seed: opts.seed,
          index: i,
          mutation,
          error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack?.split("\n").slice(1, 4).join("\n")}` : String(err),
          inputHex: hex(input),
        });
        if (crashes >= (opts.maxCrashes ?? 10)) break;
      }
      if ((i & 1023) === 0) {
        report.peakRssBytes = Math.max(report.peakRssBytes, process.memoryUsage().rss);
        opts.onProgress?.(target.name, i - first);
      }
    }
    t.ms = performance.now() - started;
    report.peakRssBytes = Math.max(report.peakRssBytes, process.memoryUsage().rss);
  }
  return report;
}
