// The command tree of a citty root as plain data for the completion scripts: every
// subcommand (lazy ones loaded), its flags and which flags take a value.
import type { ArgsDef, CommandDef } from "citty";

export interface CompletionFlag {
  /** `--config`, `-h`. */
  name: string;
  description: string;
  /** The flag consumes the next word. */
  takesValue: boolean;
  /** Fixed values (an enum), else file names when `files`. */
  values?: string[];
  files?: boolean;
}

export interface CompletionNode {
  /** Subcommand names from the root: `[]`, `["users", "two-factor"]`. */
  path: string[];
  description: string;
  /** Other names the command answers to (citty `meta.alias`): accepted, not offered. */
  aliases: string[];
  flags: CompletionFlag[];
  children: CompletionNode[];
}

type AnyCommand = CommandDef<ArgsDef>;

async function resolve<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** String flags that name a file complete file names. */
const FILE_FLAG = /config|file|path|cert|key|out|dir/i;

function flagsOf(args: ArgsDef): CompletionFlag[] {
  const flags: CompletionFlag[] = [];
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const takesValue = def.type === "string" || def.type === "enum";
    const values = def.type === "enum" ? [...((def as { options?: string[] }).options ?? [])] : undefined;
    const files = def.type === "string" && FILE_FLAG.test(name);
    const aliases = ([] as string[]).concat((def as { alias?: string | string[] }).alias ?? []);
    for (const n of [name, ...aliases]) {
      flags.push({ name: n.length === 1 ? `-${n}` : `--${kebab(n)}`, description: def.description ?? "", takesValue, ...(values ? { values } : {}), ...(files ? { files } : {}) });
    }
  }
  return flags;
}

/** Walks the tree from `root`; `globalFlags` are accepted by every command (taken out of argv before citty runs). */
export async function completionTree(root: AnyCommand, globalFlags: CompletionFlag[] = []): Promise<CompletionNode> {
  async function walk(cmd: AnyCommand, path: string[]): Promise<CompletionNode> {
    const meta = (await resolve(cmd.meta)) ?? {};
    const own = flagsOf((await resolve(cmd.args)) ?? {});
    const names = new Set(own.map((f) => f.name));
    const flags = [...own, ...globalFlags.filter((f) => !names.has(f.name)), { name: "--help", description: "Show help", takesValue: false }];
    const children: CompletionNode[] = [];
    for (const [name, sub] of Object.entries((await resolve(cmd.subCommands)) ?? {})) {
      children.push(await walk((await resolve(sub)) as AnyCommand, [...path, name]));
    }
    return {
      path,
      description: meta.description ?? "",
      aliases: ([] as string[]).concat((meta as { alias?: string | string[] }).alias ?? []),
      flags,
      children,
    };
  }
  return walk(root, []);
}

/** Every node, depth first (the root first). */
export function allNodes(node: CompletionNode): CompletionNode[] {
  return [node, ...node.children.flatMap(allNodes)];
}
