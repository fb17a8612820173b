// Opens the pktriot configuration for a client command, and the server API it points at.
import { INSECURE_WARNING, configuredServers, createClientApi, trustFromConfig, type ClientApi } from "../lib/client-api/index.ts";
import { findClientConfigPath, loadClientConfig, updateClientConfig, type ClientConfig } from "../lib/client-config/index.ts";
import { UserError } from "../lib/errors.ts";
import { configFlag } from "./_shared.ts";

export interface ClientContext {
  path: string;
  config: ClientConfig;
}

/** The existing configuration (`--config`, PKTRIOT_CONFIG, or the first well-known file). */
export function openClientConfig(args: { config?: string }): ClientContext {
  const path = findClientConfigPath({ flag: configFlag(args) });
  return { path, config: loadClientConfig(path) };
}

/** Applies `change` to the existing configuration and saves it (validated, atomically). */
export async function editClientConfig<T>(args: { config?: string }, change: (config: ClientConfig) => T | Promise<T>): Promise<ClientContext & { result: T }> {
  const path = findClientConfigPath({ flag: configFlag(args) });
  const { config, result } = await updateClientConfig(path, change);
  return { path, config, result };
}

export function isConfigured(config: ClientConfig): boolean {
  return Boolean(config.key && config.serverHost);
}

export function requireConfigured(ctx: ClientContext): void {
  if (!isConfigured(ctx.config)) throw new UserError(`this client is not configured (no server key in ${ctx.path}); run pktriot unmanaged configure first`);
}

/**
 * Printed when verification is turned off (`unmanaged configure`) and at every `start`
 * (the long-running process a deployment watches), not by every short command: a refused
 * command prints exactly one line.
 */
export function warnInsecure(): void {
  console.error(INSECURE_WARNING);
}

export function clientApiFor(ctx: ClientContext): ClientApi {
  requireConfigured(ctx);
  const [server, ...failover] = configuredServers(ctx.config);
  return createClientApi({ server: server!, failover, trust: trustFromConfig(ctx.config), key: ctx.config.key });
}
