// Builds the two standalone executables with `bun build --compile`:
//   bun scripts/build.ts                 -> dist/spokes, dist/pktriot (this machine)
//   bun scripts/build.ts --target bun-linux-arm64 [--outdir dist/arm64]
// The libsql native addon is embedded by rewriting libsql's dynamic require (Bun cannot
// follow `require(`@libsql/${target}`)`, see ../shared/NOTES-stack.md); each extra target
// needs its own @libsql/<platform> package: in node_modules, or fetched into .cache/libsql
// by scripts/release.ts (scripts/libsql-addon.ts).
import type { BunPlugin } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { findLibsqlAddon } from "./libsql-addon.ts";

export const LIBSQL_PLATFORM: Record<string, string> = {
  "bun-linux-x64": "linux-x64-gnu",
  "bun-linux-x64-musl": "linux-x64-musl",
  "bun-linux-arm64": "linux-arm64-gnu",
  "bun-linux-arm64-musl": "linux-arm64-musl",
  "bun-darwin-arm64": "darwin-arm64",
  "bun-darwin-x64": "darwin-x64",
  "bun-windows-x64": "win32-x64-msvc",
};

export const EXECUTABLES = ["spokes", "pktriot"] as const;

export interface BuildOptions {
  target: string;
  outdir: string;
  version: string;
  /** Output file name per executable (default: its own name). */
  fileName?: (name: (typeof EXECUTABLES)[number]) => string;
}

function embedLibsqlAddon(addonPath: string): BunPlugin {
  return {
    name: "embed-libsql-addon",
    setup(build) {
      build.onLoad({ filter: /node_modules[\\/]libsql[\\/]index\.js$/ }, async (args) => {
        const src = await Bun.file(args.path).text();
        const pattern = "require(`@libsql/${target}`)";
        if (!src.includes(pattern)) throw new Error(`libsql/index.js no longer contains ${pattern}; update scripts/build.ts`);
        return { contents: src.replace(pattern, `require(${JSON.stringify(addonPath)})`), loader: "js" };
      });
    },
  };
}

/** Builds both executables for one target; throws (naming what is missing) instead of producing a broken file. */
export async function buildExecutables(opts: BuildOptions): Promise<string[]> {
  const platform = LIBSQL_PLATFORM[opts.target];
  if (!platform) throw new Error(`unsupported target ${opts.target} (known: ${Object.keys(LIBSQL_PLATFORM).join(", ")})`);
  const addon = findLibsqlAddon(platform);
  if (!addon) throw new Error(`@libsql/${platform} is not installed for target ${opts.target}: run \`npm run release\` (fetches it into .cache/libsql) or install it`);
  mkdirSync(opts.outdir, { recursive: true });
  const outputs: string[] = [];
  for (const name of EXECUTABLES) {
    const outfile = join(opts.outdir, opts.fileName?.(name) ?? name);
    const result = await Bun.build({
      entrypoints: [join(import.meta.dir, "..", "commands", `${name}.ts`)],
      // --smol: the small JavaScriptCore heap collects garbage sooner, which keeps the
      // server's RSS flat under bulk traffic (every socket read is a fresh buffer).
      compile: { target: opts.target as Bun.Build.CompileTarget, outfile, execArgv: ["--smol"] },
      minify: true,
      sourcemap: "none",
      // NODE_ENV is fixed at build time: whatever the building shell had (unset means
      // "development", `bun test` means "test", which silences consola's info lines).
      define: { SPOKES_BUILD_VERSION: JSON.stringify(opts.version), "process.env.NODE_ENV": JSON.stringify("production") },
      plugins: name === "spokes" ? [embedLibsqlAddon(addon)] : [],
    });
    if (!result.success) throw new AggregateError(result.logs, `bun build of ${name} for ${opts.target} failed`);
    outputs.push(outfile);
  }
  return outputs;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.main) {
  const target = argValue("--target") ?? `bun-${process.platform}-${process.arch}`;
  const outdir = argValue("--outdir") ?? join(import.meta.dir, "..", "dist");
  const version = process.env.SPOKES_VERSION || pkg.version;
  try {
    for (const file of await buildExecutables({ target, outdir, version })) console.log(`built ${file} (${target}, ${version})`);
  } catch (err) {
    for (const log of (err as AggregateError).errors ?? []) console.error(log);
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
  }
}
