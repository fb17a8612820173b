// Settings an admin changes in the dashboard (SPEC 2.3 "Settings"): the sections that may
// change at run time, how a change merges into the running configuration, and the
// checks it must pass. The web app stores the sections in the database (they override the
// file); the server applies them at start and whenever they change.
import { dirname } from "node:path";
import { UserError } from "../errors.ts";
import { parseAllowEntry } from "../socks/allow-list.ts";
import { validateServerConfig, type ServerConfig, type TlsMode } from "./server-config.ts";

export interface ServerSettingsPatch {
  domain?: string;
  /** Replaces the whole `tls` section (one mode at a time). */
  tls?: ServerConfig["tls"];
  tunOptions?: Partial<ServerConfig["tunOptions"]>;
  monitor?: Partial<ServerConfig["monitor"]>;
  socks?: Partial<Pick<ServerConfig["socks"], "enabled" | "port" | "tlsPort" | "allow" | "auth">>;
}

export type SettingsSection = keyof ServerSettingsPatch;
export const SETTINGS_SECTIONS: readonly SettingsSection[] = ["domain", "tls", "tunOptions", "monitor", "socks"];

/** Keeps the known sections of what the database holds (anything else is ignored). */
export function settingsPatchFrom(stored: Record<string, unknown>): ServerSettingsPatch {
  const out: Record<string, unknown> = {};
  for (const k of SETTINGS_SECTIONS) if (stored[k] !== undefined) out[k] = stored[k];
  return out as ServerSettingsPatch;
}

/**
 * The configuration with the patch applied, validated as a whole (the same checks and
 * messages as the file: `config tunOptions.maxPoolSize (0) must be between 1 and 64`).
 * Does not touch `config`.
 */
export function mergeServerSettings(config: ServerConfig, patch: ServerSettingsPatch, baseDir = dirname(config.database.path || "/")): ServerConfig {
  const raw = structuredClone(config) as unknown as Record<string, Record<string, unknown>> & { domain: unknown };
  if (patch.domain !== undefined) raw.domain = patch.domain;
  if (patch.tls) raw.tls = { ...patch.tls };
  if (patch.tunOptions) raw.tunOptions = { ...raw.tunOptions, ...patch.tunOptions };
  if (patch.monitor) raw.monitor = { ...raw.monitor, ...patch.monitor };
  if (patch.socks) raw.socks = { ...raw.socks, ...patch.socks };
  const next = validateServerConfig(raw as unknown as Record<string, unknown>, baseDir);
  for (const entry of next.socks.allow) {
    try {
      parseAllowEntry(entry);
    } catch (err) {
      throw new UserError(`config socks.allow: ${(err as Error).message}`);
    }
  }
  return next;
}

/**
 * Applies a patch to the running configuration object in place, so every reader that
 * holds it (closures calling `config()`) sees the new values at once. Validates first:
 * on error nothing changes. Returns the sections that changed.
 */
export function applyServerSettings(target: ServerConfig, patch: ServerSettingsPatch): SettingsSection[] {
  const next = mergeServerSettings(target, patch);
  const changed: SettingsSection[] = [];
  for (const k of SETTINGS_SECTIONS) {
    if (JSON.stringify(target[k]) !== JSON.stringify(next[k])) changed.push(k);
  }
  target.domain = next.domain;
  target.tls = next.tls;
  target.tunOptions = next.tunOptions;
  target.monitor = next.monitor;
  target.socks = next.socks;
  return changed;
}

/** Which certificate the server uses for a configuration (after settings were applied). */
export function tlsModeOf(config: ServerConfig): TlsMode {
  if (config.tls.certificate) return "custom";
  if (config.tls.useLE) return "letsencrypt";
  return "selfSigned";
}
