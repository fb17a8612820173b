// Builds the two standalone executables with `bun build --compile`:
//   bun scripts/build.ts                 -> dist/spokes, dist/pktriot (this machine)
//   bun scripts/build.ts --target bun-linux-arm64 [--outdir dist/arm64]
// The libsql native addon is embedded by rewriting libsql's dynamic require (Bun cannot
// follow `require(`@libsql/${target}`)`, see ../shared/NOTES-stack.md); each extra target
// needs its own @libsql/<platform> package installed.
import type { BunPlugin } from "bun";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

const LIBSQL_PLATFORM: Record<string, string> = {
  "bun-linux-x64": "linux-x64-gnu",
  "bun-linux-x64-musl": "linux-x64-musl",
  "bun-linux-arm64": "linux-arm64-gnu",
  "bun-linux-arm64-musl": "linux-arm64-musl",
  "bun-darwin-arm64": "darwin-arm64",
  "bun-darwin-x64": "darwin-x64",
  "bun-windows-x64": "win32-x64-msvc",
};

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const target = argValue("--target") ?? `bun-${process.platform}-${process.arch}`;
const outdir = argValue("--outdir") ?? join(import.meta.dir, "..", "dist");
const platform = LIBSQL_PLATFORM[target];
if (!platform) {
  console.error(`error: unsupported target ${target} (known: ${Object.keys(LIBSQL_PLATFORM).join(", ")})`);
  process.exit(1);
}

const embedLibsqlAddon: BunPlugin = {
  name: "embed-libsql-addon",
  setup(build) {
    build.onLoad({ filter: /node_modules[\\/]libsql[\\/]index\.js$/ }, async (args) => {
      const src = await Bun.file(args.path).text();
      const pattern = "require(`@libsql/${target}`)";
      if (!src.includes(pattern)) throw new Error(`libsql/index.js no longer contains ${pattern}; update scripts/build.ts`);
      return { contents: src.replace(pattern, `require("@libsql/${platform}")`), loader: "js" };
    });
  },
};

mkdirSync(outdir, { recursive: true });
const version = process.env.SPOKES_VERSION || pkg.version;
for (const name of ["spokes", "pktriot"]) {
  const result = await Bun.build({
    entrypoints: [join(import.meta.dir, "..", "commands", `${name}.ts`)],
    // --smol: the small JavaScriptCore heap collects garbage sooner, which keeps the
    // server's RSS flat under bulk traffic (every socket read is a fresh buffer).
    compile: { target: target as Bun.Build.CompileTarget, outfile: join(outdir, name), execArgv: ["--smol"] },
    minify: true,
    sourcemap: "none",
    define: { SPOKES_BUILD_VERSION: JSON.stringify(version) },
    plugins: name === "spokes" ? [embedLibsqlAddon] : [],
  });
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  console.log(`built ${join(outdir, name)} (${target}, ${version})`);
}
