export {};
// Runs `bun test`, passes its output through, and ends with the plain line CI reads:
// `N passed, N failed`. A file that throws on import ("N error") counts as failed, and a
// non-zero exit with no parsable counts still fails. A full run (no arguments) then runs
// the db unit suite a second time against PostgreSQL (SPOKES_TEST_DB=postgres: a private
// cluster, test/db-fixtures.ts), so every query is proven on both engines.
const args = process.argv.slice(2);

async function bunTest(testArgs: string[], env: Record<string, string> = {}): Promise<{ passed: number; failed: number; ok: boolean }> {
  // bunfig.toml's [test] timeout is not applied by bun 1.4.5 (5 s default): pass it here.
  const proc = Bun.spawn(["bun", "test", "--timeout", "60000", ...testArgs], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
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
  return { passed, failed: failedCount, ok: code === 0 && failedCount === 0 };
}

const runs = [await bunTest(args)];
if (!args.length) {
  console.log("\n--- db unit suite on PostgreSQL ---");
  runs.push(await bunTest(["test/unit/db"], { SPOKES_TEST_DB: "postgres" }));
}
const passed = runs.reduce((n, r) => n + r.passed, 0);
const failed = runs.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(runs.every((r) => r.ok) ? 0 : 1);
