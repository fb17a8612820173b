// `npm run fuzz`: feeds seeded, reproducible hostile inputs to the four network parsers
// (tunnel frames, SOCKS5, TLS ClientHello, HTTP/1 request heads and stream) and fails
// on any crash, on a decoder holding more than its cap, or on the process growing past
// --max-rss-mib. Defaults: 250,000 inputs per target (1,000,000 in total).
//
//   npm run fuzz -- [--seed N] [--count N per target] [--target frames,socks,clientHello,http]
//                   [--index I (replay one input)] [--max-rss-mib 512]
import { parseArgs } from "node:util";
import { FUZZ_TARGETS, runFuzz } from "../test/fuzz/run.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    count: { type: "string", default: "250000" },
    target: { type: "string" },
    index: { type: "string" },
    "max-rss-mib": { type: "string", default: "512" },
  },
});

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) {
    console.error(`error: --${name} must be a non-negative integer`);
    process.exit(2);
  }
  return Number(v);
}

const seed = int("seed", values.seed) ?? Math.floor(Math.random() * 2 ** 31);
const count = int("count", values.count)!;
const index = int("index", values.index);
const maxRss = int("max-rss-mib", values["max-rss-mib"])! * 1024 * 1024;
const names = values.target?.split(",") ?? FUZZ_TARGETS.map((t) => t.name);
const targets = names.map((n) => {
  const t = FUZZ_TARGETS.find((x) => x.name === n);
  if (!t) {
    console.error(`error: unknown target "${n}" (known: ${FUZZ_TARGETS.map((x) => x.name).join(", ")})`);
    process.exit(2);
  }
  return t;
});

console.log(`fuzz seed ${seed}, ${index !== undefined ? `input ${index} only` : `${count.toLocaleString("en")} inputs per target`}, max RSS ${maxRss / 1048576} MiB`);
const report = await runFuzz({ seed, count, targets, index });

let total = 0;
for (const t of report.targets) {
  total += t.inputs;
  const top = [...t.outcomes].sort((a, b) => b[1] - a[1]);
  console.log(
    `${t.name.padEnd(12)} ${t.inputs.toLocaleString("en").padStart(9)} inputs  ${(t.bytes / 1048576).toFixed(1).padStart(7)} MiB  ${(t.ms / 1000).toFixed(1).padStart(6)} s  ${top.length} distinct outcomes`,
  );
  console.log(`             ${top.slice(0, 8).map(([k, v]) => `${k} ${v}`).join(", ")}${top.length > 8 ? ", ..." : ""}`);
}
const peakMib = report.peakRssBytes / 1048576;
console.log(`total ${total.toLocaleString("en")} inputs, ${report.crashes.length} crashes, peak RSS ${peakMib.toFixed(0)} MiB (bound ${maxRss / 1048576} MiB)`);
for (const c of report.crashes) {
  console.log(`\nCRASH ${c.target} (${c.mutation}) — replay: npm run fuzz -- --seed ${c.seed} --target ${c.target} --index ${c.index}`);
  console.log(c.error);
  console.log(`input (${c.inputHex.length / 2} bytes): ${c.inputHex.length > 8192 ? `${c.inputHex.slice(0, 8192)}...` : c.inputHex}`);
}
if (report.crashes.length > 0 || report.peakRssBytes > maxRss) {
  if (report.peakRssBytes > maxRss) console.log(`FAIL: peak RSS ${peakMib.toFixed(0)} MiB is above the bound`);
  process.exit(1);
}
