// The libsql native addon for a compile target. libsql lists one prebuilt package per
// platform as an optional dependency, and npm installs only the host's, so a cross build
// (linux-arm64, darwin-arm64 on a linux-x64 machine) fetches the others with `npm pack`
// into .cache/libsql/, checked against the integrity recorded in package-lock.json.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
export const LIBSQL_CACHE = join(ROOT, ".cache", "libsql");

/** The exact version libsql pins for its platform packages (they move in lock step). */
export function libsqlAddonVersion(platform: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, "node_modules", "libsql", "package.json"), "utf8"));
  const version = pkg.optionalDependencies?.[`@libsql/${platform}`];
  if (!version) throw new Error(`libsql does not list @libsql/${platform} among its optional dependencies`);
  return version;
}

function addonIn(dir: string, version: string): string | undefined {
  const manifest = join(dir, "package.json");
  if (!existsSync(manifest)) return undefined;
  const pkg = JSON.parse(readFileSync(manifest, "utf8"));
  const addon = join(dir, pkg.main ?? "index.node");
  return pkg.version === version && existsSync(addon) ? addon : undefined;
}

/** Absolute path of the `.node` file for a platform (`linux-arm64-gnu`), or undefined when not installed or fetched. */
export function findLibsqlAddon(platform: string): string | undefined {
  const version = libsqlAddonVersion(platform);
  return addonIn(join(ROOT, "node_modules", "@libsql", platform), version) ?? addonIn(join(LIBSQL_CACHE, `${platform}-${version}`, "package"), version);
}

/** The lockfile's sha512 integrity for a platform package, so a fetched tarball is the one npm would install. */
function lockedIntegrity(platform: string, version: string): string {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
  const entry = lock.packages?.[`node_modules/@libsql/${platform}`];
  if (!entry?.integrity || entry.version !== version) throw new Error(`package-lock.json has no integrity for @libsql/${platform}@${version}`);
  return entry.integrity;
}

/** Makes the platform's addon available (node_modules, else the cache, else `npm pack` into the cache). */
export function ensureLibsqlAddon(platform: string): string {
  const found = findLibsqlAddon(platform);
  if (found) return found;
  const version = libsqlAddonVersion(platform);
  const want = lockedIntegrity(platform, version);
  const dir = join(LIBSQL_CACHE, `${platform}-${version}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pack = Bun.spawnSync(["npm", "pack", `@libsql/${platform}@${version}`, "--pack-destination", dir, "--json", "--silent"], { stderr: "pipe" });
  if (pack.exitCode !== 0) throw new Error(`npm pack @libsql/${platform}@${version} failed: ${pack.stderr.toString().trim()}`);
  const [{ filename }] = JSON.parse(pack.stdout.toString()) as { filename: string }[];
  const tarball = join(dir, filename);
  const got = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  if (got !== want) throw new Error(`@libsql/${platform}@${version}: tarball integrity ${got} differs from package-lock.json ${want}`);
  const untar = Bun.spawnSync(["tar", "-xzf", tarball, "-C", dir], { stderr: "pipe" });
  if (untar.exitCode !== 0) throw new Error(`cannot unpack ${tarball}: ${untar.stderr.toString().trim()}`);
  const addon = findLibsqlAddon(platform);
  if (!addon) throw new Error(`@libsql/${platform}@${version} unpacked into ${dir} but holds no addon`);
  return addon;
}
