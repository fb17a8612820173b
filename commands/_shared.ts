// Flags and helpers shared by the commands of both executables.
import { UserError } from "../lib/errors.ts";

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
