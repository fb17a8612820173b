// Opens the server's configuration and database for an admin command.
import { openDatabase, type OpenDatabase } from "../db/client.ts";
import { loadServerConfig, resolveConfigPath, type LoadedConfig } from "../lib/config/server-config.ts";
import { configFlag } from "./_shared.ts";

export interface ServerContext extends OpenDatabase {
  loaded: LoadedConfig;
}

export async function openServerContext(args: { config?: string }): Promise<ServerContext> {
  const loaded = loadServerConfig(resolveConfigPath(configFlag(args)));
  const { config } = loaded;
  const opened = await openDatabase({ path: config.database.path, url: config.database.url, authToken: config.database.authToken });
  return { ...opened, loaded };
}

/** Runs `fn` with the database open and always closes it. */
export async function withServerContext<T>(args: { config?: string }, fn: (ctx: ServerContext) => Promise<T>): Promise<T> {
  const ctx = await openServerContext(args);
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}
