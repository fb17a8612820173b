// Flags and helpers shared by the commands of both executables.
import { UserError } from "../lib/errors.ts";
import { countLine, renderTable } from "../lib/format/table.ts";
import { formatBytes } from "../lib/format/units.ts";

export const globalOptions: { config?: string } = {};

export const configArgs = {
  config: { type: "string", description: "Path of the configuration file" },
} as const;

export const jsonArgs = {
  json: { type: "boolean", description: "Print JSON instead of a table" },
} as const;

export const passwordStdinArgs = {
  "password-stdin": { type: "boolean", description: "Read the password from the first line of standard input" },
} as const;

/** The --config value given before or after the subcommand. */
export function configFlag(args: { config?: string }): string | undefined {
  return args.config || globalOptions.config;
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** A required string flag that citty let through empty (`--email` with no value). */
export function requireValue(value: unknown, flag: string): string {
  if (typeof value !== "string" || !value.trim()) throw new UserError(`--${flag} needs a value`, 2);
  return value.trim();
}

/** Exactly one of two flags, e.g. `--email E | --id ID`. */
export function oneOf<T extends Record<string, unknown>>(args: T, a: keyof T & string, b: keyof T & string): { flag: string; value: string } {
  const va = typeof args[a] === "string" ? (args[a] as string).trim() : "";
  const vb = typeof args[b] === "string" ? (args[b] as string).trim() : "";
  if (va && vb) throw new UserError(`give either --${a} or --${b}, not both`, 2);
  if (!va && !vb) throw new UserError(`give --${a} or --${b}`, 2);
  return va ? { flag: a, value: va } : { flag: b, value: vb };
}

/** `--id ID` of the row a command acts on. */
export const idArgs = {
  id: { type: "string", description: "ID of the entry (32 hex characters)" },
} as const;

/** `rm (--id ID | --all)`. */
export const removeArgs = {
  ...idArgs,
  all: { type: "boolean", description: "All entries" },
} as const;

/** The target of `rm`: exactly one of `--id ID` and `--all` (otherwise a usage error). */
export function idOrAll(args: { id?: string; all?: boolean }): { id: string } | { all: true } {
  const id = typeof args.id === "string" ? args.id.trim() : "";
  if (id && args.all) throw new UserError("give either --id or --all, not both", 2);
  if (args.all) return { all: true };
  if (!id) throw new UserError(args.id === undefined ? "give --id ID or --all" : "--id needs a value", 2);
  return { id };
}

/** `--email E | --id ID` naming a user. */
export function userSelector(args: { email?: string; id?: string }): { email: string } | { id: string } {
  const { flag, value } = oneOf(args, "email", "id");
  return flag === "email" ? { email: value } : { id: value };
}

/** A new secret: the label on its own line, then the bare value (easy to copy, or to capture in a script). */
export function printSecret(label: string, value: string): void {
  console.log(label);
  console.log(value);
}

export interface Listing<T> {
  headers: string[];
  row: (item: T) => string[];
  /** Count line nouns: `["token"]` prints `1 token` / `7 tokens`. */
  noun: [singular: string, plural?: string];
}

/** Every listing command's output: the items as a JSON array with `--json`, else the table and a count line. */
export function printListing<T>(args: { json?: boolean }, items: T[], listing: Listing<T>): void {
  if (args.json) return printJson(items);
  console.log(renderTable(listing.headers, items.map(listing.row)));
  console.log(countLine(items.length, ...listing.noun));
}

/** A boolean table cell, spelled as the original prints Go booleans. */
export const boolCell = (v: boolean): string => (v ? "true" : "false");

/** `1.20 MB / 35.00 MB`. */
export const bandwidthCell = (b: { daily: number; monthly: number }): string => `${formatBytes(b.daily)} / ${formatBytes(b.monthly)}`;

/**
 * Long-running commands (serve, start) log an unexpected error and keep serving: one bad
 * connection must not take every tunnel down with the process.
 */
export function logUnexpectedErrors(log: { error(msg: string): void }): void {
  const report = (what: string) => (err: unknown) => {
    log.error(`${what}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  };
  process.on("uncaughtException", report("unexpected error (still running)"));
  process.on("unhandledRejection", report("unhandled rejection (still running)"));
}
