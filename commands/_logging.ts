// Log level and format of both executables: `--log-level` / `--log-format` (global flags,
// taken before or after the subcommand) or SPOKES_LOG_LEVEL / PKTRIOT_LOG_LEVEL and
// SPOKES_LOG_FORMAT / PKTRIOT_LOG_FORMAT. consola stays the logger; only its level and
// reporters change.
import { consola, type ConsolaReporter, type LogObject } from "consola";
import { formatWithOptions } from "node:util";
import { UserError } from "../lib/errors.ts";
import { isLogFields, type LogFields } from "../lib/log.ts";

/** consola's numeric levels (0 errors only ... 5 trace; -999 silent). */
export const LOG_LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };
export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOptions {
  level?: string;
  format?: string;
}

/** consola type -> the level name written in a JSON line. */
function levelName(obj: LogObject): string {
  if (obj.level <= 0) return obj.type === "fatal" ? "fatal" : "error";
  if (obj.level === 1) return "warn";
  if (obj.level <= 3) return "info";
  return obj.level === 4 ? "debug" : "trace";
}

/** Splits a log call's arguments into the message and the structured fields. */
function splitArgs(args: unknown[]): { text: unknown[]; fields: LogFields } {
  const last = args[args.length - 1];
  return isLogFields(last) ? { text: args.slice(0, -1), fields: last } : { text: args, fields: {} };
}

/**
 * One JSON object per line on stderr, always with the same keys (absent fields are null)
 * so log shippers can map them once: time, level, msg, tunnel, remote, service.
 */
export function jsonReporter(write: (line: string) => void = (l) => process.stderr.write(l)): ConsolaReporter {
  return {
    log(obj) {
      const { text, fields } = splitArgs(obj.args);
      const msg = [obj.message, ...text]
        .filter((a) => a !== undefined)
        .map((a) => (typeof a === "string" ? a : a instanceof Error ? a.message : formatWithOptions({ colors: false }, "%O", a)))
        .join(" ");
      const line = {
        time: obj.date.toISOString(),
        level: levelName(obj),
        msg,
        tunnel: fields.tunnel ?? null,
        remote: fields.remote ?? null,
        service: fields.service ?? null,
      };
      write(`${JSON.stringify(line)}\n`);
    },
  };
}

/** consola's own reporters, minus the fields object (the text already names what it is about). */
function textReporters(base: ConsolaReporter[]): ConsolaReporter[] {
  return base.map((r) => ({ log: (obj, ctx) => r.log({ ...obj, args: splitArgs(obj.args).text }, ctx) }));
}

const defaultReporters = [...consola.options.reporters];

/** Applies flags over the environment (`prefix` is SPOKES or PKTRIOT). */
export function configureLogging(opts: LogOptions, prefix: string, env: Record<string, string | undefined> = process.env): void {
  const levelRaw = (opts.level ?? env[`${prefix}_LOG_LEVEL`] ?? "").trim().toLowerCase();
  const formatRaw = (opts.format ?? env[`${prefix}_LOG_FORMAT`] ?? "text").trim().toLowerCase();
  const from = (flag: string | undefined, name: string) => (flag !== undefined ? `--${name}` : `environment variable ${prefix}_${name.replace("-", "_").toUpperCase()}`);
  if (levelRaw && !(levelRaw in LOG_LEVELS)) {
    throw new UserError(`${from(opts.level, "log-level")} must be one of ${Object.keys(LOG_LEVELS).join(", ")} (got ${JSON.stringify(levelRaw)})`, opts.level !== undefined ? 2 : 1);
  }
  if (!(LOG_FORMATS as readonly string[]).includes(formatRaw)) {
    throw new UserError(`${from(opts.format, "log-format")} must be text or json (got ${JSON.stringify(formatRaw)})`, opts.format !== undefined ? 2 : 1);
  }
  if (levelRaw) consola.level = LOG_LEVELS[levelRaw]!;
  consola.setReporters(formatRaw === "json" ? [jsonReporter()] : textReporters(defaultReporters));
}
