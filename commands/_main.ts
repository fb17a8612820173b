// The one entry path of both executables: global flags, usage errors (exit 2),
// user errors (exit 1) and a clean one-line message instead of a stack trace.
import { renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import { UserError, errorMessage } from "../lib/errors.ts";
import { configureLogging } from "./_logging.ts";
import { globalOptions } from "./_shared.ts";

type AnyCommand = CommandDef<ArgsDef>;

const ANSI = /\x1b\[[0-9;]*m/g;

async function resolve<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

/** Flags every command of both executables takes, before or after the subcommand (SPEC 2). */
const GLOBAL_FLAGS = { config: "--config", logLevel: "--log-level", logFormat: "--log-format" } as const;
export type GlobalFlags = { -readonly [K in keyof typeof GLOBAL_FLAGS]?: string };

/** Pulls the global flags (`--config X` / `--config=X`, `--log-level`, `--log-format`) out of argv wherever they stand. */
export function extractGlobalFlags(argv: string[]): GlobalFlags & { rest: string[] } {
  const rest: string[] = [];
  const found: GlobalFlags = {};
  const byFlag = new Map<string, keyof GlobalFlags>(Object.entries(GLOBAL_FLAGS).map(([k, f]) => [f, k as keyof GlobalFlags]));
  const what = (flag: string) => (flag === "--config" ? "a path" : "a value");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    const eq = a.indexOf("=");
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const key = byFlag.get(flag);
    if (!key) {
      rest.push(a);
      continue;
    }
    let v: string | undefined;
    if (eq > 0) v = a.slice(eq + 1);
    else {
      v = argv[i + 1];
      if (v !== undefined && v.startsWith("-")) v = undefined;
      else i++;
    }
    if (!v) throw new UserError(`flag ${flag} needs ${what(flag)}`, 2);
    found[key] = v;
  }
  return { ...found, rest };
}

/** Follows subcommands as citty will, returning the leaf, its parents, and the leaf's own argv. */
async function findLeaf(root: AnyCommand, argv: string[]): Promise<{ chain: AnyCommand[]; args: string[] }> {
  const chain: AnyCommand[] = [root];
  let cmd = root;
  let args = argv;
  for (;;) {
    const subs = await resolve(cmd.subCommands);
    if (!subs || !Object.keys(subs).length) break;
    const idx = args.findIndex((a) => !a.startsWith("-"));
    if (idx < 0) break;
    const name = args[idx]!;
    let next = subs[name] ? await resolve(subs[name]) : undefined;
    if (!next) {
      for (const s of Object.values(subs)) {
        const c = (await resolve(s)) as AnyCommand;
        const meta = await resolve(c.meta);
        const aliases = ([] as string[]).concat((meta as { alias?: string | string[] })?.alias ?? []);
        if (aliases.includes(name)) next = c;
      }
    }
    if (!next) {
      if (cmd.run) break;
      throw new UserError(`unknown command ${JSON.stringify(name)}`, 2);
    }
    chain.push(next as AnyCommand);
    cmd = next as AnyCommand;
    args = args.slice(idx + 1);
  }
  return { chain, args };
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** citty ignores unknown flags; the SPEC wants them to be usage errors (exit 2). */
async function checkFlags(cmd: AnyCommand, argv: string[]): Promise<void> {
  const defs = (await resolve(cmd.args)) ?? {};
  const known = new Set<string>(["help", "h"]);
  for (const [name, def] of Object.entries(defs)) {
    if ((def as { type?: string }).type === "positional") continue;
    for (const n of [name, ...([] as string[]).concat((def as { alias?: string | string[] }).alias ?? [])]) {
      known.add(n).add(kebab(n)).add(camel(n));
      if ((def as { type?: string }).type === "boolean") known.add(`no-${kebab(n)}`).add(`no${n[0]!.toUpperCase()}${n.slice(1)}`);
    }
  }
  for (const a of argv) {
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-" || /^-\d/.test(a)) continue;
    const name = a.replace(/^--?/, "").split("=")[0]!;
    if (!known.has(name)) throw new UserError(`unknown flag ${a.split("=")[0]}`, 2);
  }
}

export async function runCli(root: AnyCommand, argv = process.argv.slice(2)): Promise<number> {
  try {
    const { config, logLevel, logFormat, rest } = extractGlobalFlags(argv);
    if (config !== undefined) globalOptions.config = config;
    const meta = await resolve(root.meta);
    configureLogging({ level: logLevel, format: logFormat }, (meta?.name ?? "spokes").toUpperCase());
    const { chain, args } = await findLeaf(root, rest);
    const leaf = chain[chain.length - 1]!;
    if (rest.includes("--help") || rest.includes("-h") || (!leaf.run && args.filter((a) => !a.startsWith("-")).length === 0)) {
      const usage = await renderUsage(leaf, chain.length > 1 ? chain[chain.length - 2] : undefined);
      const wantedHelp = rest.includes("--help") || rest.includes("-h");
      // citty colours its usage unless NO_COLOR/CI is set; keep escapes out of pipes and files.
      const stream = wantedHelp ? process.stdout : process.stderr;
      (wantedHelp ? console.log : console.error)(stream.isTTY ? usage : usage.replace(ANSI, ""));
      return wantedHelp ? 0 : 2;
    }
    await checkFlags(leaf, args);
    await runCommand(root, { rawArgs: rest });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    const code = (err as { code?: string }).code;
    // citty's argument errors are usage errors. Match on `name`, which citty sets: the
    // minified executable renames classes, so `constructor.name` is not "CLIError" there.
    const usage = err instanceof UserError ? err.exitCode === 2 : typeof code === "string" && /^E/.test(code) && (err as Error)?.name === "CLIError";
    const msg = errorMessage(err).replace(ANSI, "");
    console.error(`error: ${msg.charAt(0).toLowerCase()}${msg.slice(1)}`);
    if (process.env.SPOKES_DEBUG && err instanceof Error && !(err instanceof UserError)) console.error(err.stack);
    return usage ? 2 : 1;
  }
}

/** Runs the CLI and exits with its code; long-running commands keep the process alive themselves. */
export function main(root: AnyCommand): void {
  runCli(root).then((code) => {
    process.exitCode = code;
  });
}
