// `npm run release`: spokes and pktriot for every release platform into release/<version>/
// (spokes-linux-x64, pktriot-darwin-arm64, ...) plus SHA256SUMS in `sha256sum -c` format.
//   bun scripts/release.ts [--platforms linux-x64,linux-arm64] [--outdir DIR]
// The libsql addon of each platform is fetched when node_modules lacks it (libsql-addon.ts).
import { createHash } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { buildExecutables, LIBSQL_PLATFORM } from "./build.ts";
import { ensureLibsqlAddon } from "./libsql-addon.ts";

export const RELEASE_PLATFORMS = ["linux-x64", "linux-arm64", "darwin-arm64"] as const;

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const version = process.env.SPOKES_VERSION || pkg.version;
const platforms = (argValue("--platforms")?.split(",") ?? [...RELEASE_PLATFORMS]).map((p) => p.trim()).filter(Boolean);
const outdir = argValue("--outdir") ?? join(import.meta.dir, "..", "release", version);

try {
  for (const p of platforms) {
    if (!(RELEASE_PLATFORMS as readonly string[]).includes(p)) throw new Error(`unknown platform ${p} (release platforms: ${RELEASE_PLATFORMS.join(", ")})`);
  }
  rmSync(outdir, { recursive: true, force: true });
  const files: string[] = [];
  for (const p of platforms) {
    const target = `bun-${p}`;
    ensureLibsqlAddon(LIBSQL_PLATFORM[target]!);
    const started = performance.now();
    files.push(...(await buildExecutables({ target, outdir, version, fileName: (name) => `${name}-${p}` })));
    console.log(`built ${p} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  const sums = files.map((f) => `${createHash("sha256").update(readFileSync(f)).digest("hex")}  ${basename(f)}\n`).join("");
  writeFileSync(join(outdir, "SHA256SUMS"), sums);
  console.log(`release ${version}: ${files.length} executables and SHA256SUMS in ${outdir}`);
} catch (err) {
  for (const log of (err as AggregateError).errors ?? []) console.error(log);
  console.error(`error: ${(err as Error).message}`);
  process.exit(1);
}
