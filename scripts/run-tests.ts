export {};
// Runs `bun test`, passes its output through, and ends with the plain line CI reads:
// `N passed, N failed`. A file that throws on import ("N error") counts as failed, and a
// non-zero exit with no parsable counts still fails.
const args = process.argv.slice(2);
const proc = Bun.spawn(["bun", "test", ...args], { stdout: "pipe", stderr: "pipe", env: process.env });

let tail = "";
async function pump(stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream) {
  const dec = new TextDecoder();
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    out.write(chunk);
    tail = (tail + dec.decode(chunk, { stream: true })).slice(-20000);
  }
}
await Promise.all([pump(proc.stdout, process.stdout), pump(proc.stderr, process.stderr)]);
const code = await proc.exited;

const num = (re: RegExp) => Number(tail.match(re)?.[1] ?? 0);
const passed = num(/^\s*(\d+) pass\s*$/m);
const failed = num(/^\s*(\d+) fail\s*$/m) + num(/^\s*(\d+) errors?\s*$/m);
const parsed = /^\s*\d+ pass\s*$/m.test(tail);
const failedCount = !parsed && code !== 0 ? Math.max(1, failed) : failed;
console.log(`${passed} passed, ${failedCount} failed`);
process.exit(code !== 0 || failedCount > 0 ? 1 : 0);
