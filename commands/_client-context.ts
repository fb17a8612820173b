// Opens the pktriot configuration for a client command, and the server API it points at.
import { INSECURE_WARNING, createClientApi, trustFromConfig, type ClientApi } from "../lib/client-api/index.ts";
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

/** Printed each time verification is off, so it cannot be forgotten in a deployment. */
export function warnInsecure(): void {
  console.error(INSECURE_WARNING);
}

export function clientApiFor(ctx: ClientContext): ClientApi {
  requireConfigured(ctx);
  const trust = trustFromConfig(ctx.config);
  if (trust.kind === "insecure") warnInsecure();
  return createClientApi({ server: ctx.config.serverHost, trust, key: ctx.config.key });
}
