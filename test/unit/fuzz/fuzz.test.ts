// A fixed slice of `npm run fuzz` (5,000 inputs per target, 20,000 in all): no crashes,
// every target reaches both acceptance and refusal, and the harness itself reports a
// crash with what is needed to replay it.
import { describe, expect, test } from "bun:test";
import { FUZZ_TARGETS, fuzzInput, runFuzz } from "../../fuzz/run.ts";
import { hex } from "../../fuzz/rng.ts";
import type { FuzzTarget } from "../../fuzz/target.ts";

const SEED = 20261205;

describe("fuzz slice", () => {
  test.each(FUZZ_TARGETS.map((t) => [t.name, t] as const))("%s: 5,000 inputs, no crash", async (_name, target) => {
    const report = await runFuzz({ seed: SEED, count: 5000, targets: [target] });
    const crash = report.crashes[0];
    if (crash) throw new Error(`${crash.error}\nreplay: npm run fuzz -- --seed ${crash.seed} --target ${crash.target} --index ${crash.index}`);
    const t = report.targets[0]!;
    expect(t.inputs).toBe(5000);
    const outcomes = [...t.outcomes.keys()];
    // A slice that only ever saw refusals (or only acceptances) would prove little.
    expect(outcomes.some((o) => /^(error|failed|notTls)/.test(o))).toBe(true);
    expect(outcomes.some((o) => /^(ok|connected|hello|head|passThrough|body)/.test(o))).toBe(true);
    expect(outcomes.length).toBeGreaterThanOrEqual(5);
    // Buffer caps are checked per input by the targets; the process's peak RSS is bounded
    // by `npm run fuzz` in a process of its own (the test runner's RSS moves with every
    // other file's garbage, 300-400 MiB of growth during a slice in a full run).
  }, 60_000);

  test("every mutation kind is used", () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 2000; i++) kinds.add(fuzzInput(FUZZ_TARGETS[0]!, SEED, i).mutation);
    expect([...kinds].sort()).toEqual(["asIs", "bitFlip", "byteSet", "delete", "generated", "insert", "lengthExtreme", "random", "repeat", "splice", "truncate"]);
  });

  test("a crash is reported with its seed, index and input, and replays alone", async () => {
    const broken: FuzzTarget = {
      name: "broken",
      seeds: [Uint8Array.of(1, 2, 3, 4)],
      run(input) {
        if (input.includes(0xff)) throw new TypeError("boom");
        return "ok";
      },
    };
    const report = await runFuzz({ seed: 7, count: 3000, targets: [broken], maxCrashes: 2 });
    expect(report.crashes).toHaveLength(2);
    const c = report.crashes[0]!;
    expect(c.error).toStartWith("TypeError: boom");
    expect(c.inputHex).toBe(hex(fuzzInput(broken, 7, c.index).input));
    const replay = await runFuzz({ seed: 7, count: 0, targets: [broken], index: c.index });
    expect(replay.crashes.map((x) => x.inputHex)).toEqual([c.inputHex]);
  });
});
