// Reading and writing the client configuration file. Writes are atomic (temp file +
// rename in the same directory) because a running `pktriot start` watches the file and
// must never read half of it; mode 0600 because it holds the tunnel's auth token.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UserError, errorMessage } from "../errors.ts";
import type { ClientConfig } from "./types.ts";
import { validateClientConfig } from "./validate.ts";

export function parseClientConfig(text: string, path: string): ClientConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`cannot read config file ${path}: invalid JSON (${errorMessage(err)})`);
  }
  return validateClientConfig(raw);
}

export function loadClientConfig(path: string): ClientConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UserError(`config file ${path} not found`);
    if (code === "EACCES") throw new UserError(`cannot read config file ${path}: permission denied`);
    throw new UserError(`cannot read config file ${path}: ${errorMessage(err)}`);
  }
  return parseClientConfig(text, path);
}

/** The file's config, or undefined when there is no file yet (a first `configure`). */
export function loadClientConfigIfExists(path: string): ClientConfig | undefined {
  return existsSync(path) ? loadClientConfig(path) : undefined;
}

export function serializeClientConfig(config: ClientConfig): string {
  return `${JSON.stringify(config, null, 2)}\n`;
}

export function saveClientConfig(path: string, config: ClientConfig): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, serializeClientConfig(config));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EACCES" || code === "EPERM" ? "permission denied" : errorMessage(err);
    throw new UserError(`cannot write config file ${path}: ${why}`);
  }
}

/**
 * Load, change, save. Every command that edits rules goes through here, so the file is
 * validated before and after the change and written once.
 */
export async function updateClientConfig<T>(path: string, change: (config: ClientConfig) => T | Promise<T>): Promise<{ config: ClientConfig; result: T }> {
  const config = loadClientConfig(path);
  const result = await change(config);
  const checked = validateClientConfig(JSON.parse(serializeClientConfig(config)));
  saveClientConfig(path, checked);
  return { config: checked, result };
}
