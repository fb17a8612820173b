// Where the client configuration lives (SPEC 3): `--config`, else PKTRIOT_CONFIG, else
// one of three well-known places. Commands that create a file ask which one on a TTY;
// without a TTY they refuse rather than pick a hidden default (fleet installs must say
// where their config goes). Other commands use the first of the three that exists.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { UserError } from "../errors.ts";

export function clientConfigCandidates(home = homedir()): string[] {
  return ["/etc/pktriot/config.json", "/data/config.json", join(home, ".pktriot", "config.json")];
}

export interface ConfigPathSources {
  /** `--config`, before or after the subcommand. */
  flag?: string;
  env?: Record<string, string | undefined>;
  home?: string;
  exists?: (path: string) => boolean;
}

function explicitPath(src: ConfigPathSources): string | undefined {
  const env = src.env ?? process.env;
  const p = src.flag?.trim() || env.PKTRIOT_CONFIG?.trim();
  return p ? resolve(p) : undefined;
}

/** The configuration an existing-config command should read. */
export function findClientConfigPath(src: ConfigPathSources = {}): string {
  const exists = src.exists ?? existsSync;
  const explicit = explicitPath(src);
  if (explicit) {
    if (!exists(explicit)) throw new UserError(`config file ${explicit} not found (run pktriot unmanaged configure --config ${explicit} first)`);
    return explicit;
  }
  const candidates = clientConfigCandidates(src.home);
  const found = candidates.find(exists);
  if (!found) throw new UserError(`no configuration file found (looked in ${candidates.join(", ")}); run pktriot unmanaged configure, or pass --config PATH`);
  return found;
}

export interface ChoosePathOptions extends ConfigPathSources {
  isTTY: boolean;
  /** Asks the person at the terminal to pick one of the candidates. */
  choose: (candidates: string[]) => Promise<string>;
}

/** The path a config-creating command should write. */
export async function chooseClientConfigPath(opts: ChoosePathOptions): Promise<string> {
  const explicit = explicitPath(opts);
  if (explicit) return explicit;
  if (!opts.isTTY) throw new UserError("no TTY to ask where to store the configuration; pass --config PATH");
  return resolve(await opts.choose(clientConfigCandidates(opts.home)));
}

/**
 * The client's data directory: the directory of its configuration file (as `~/.pktriot/`
 * holds `config.json`). Uploaded rule certificates live under it (`certs/`).
 */
export function clientDataDir(configPath: string): string {
  return dirname(resolve(configPath));
}
