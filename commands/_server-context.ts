// Opens the server's configuration and database for an admin command.
import { join } from "node:path";
import { openDatabase, type DatabaseOptions, type OpenDatabase } from "../db/client.ts";
import { loadServerConfig, resolveConfigPath, type LoadedConfig, type ServerConfig } from "../lib/config/server-config.ts";
import { configFlag } from "./_shared.ts";

export interface ServerContext extends OpenDatabase {
  loaded: LoadedConfig;
}

/** Where automatic (pre-migration) and `spokes backup` copies of the SQLite file go. */
export const backupDirOf = (config: ServerConfig): string => join(config.dataPath, "backups");

/** The database of a server configuration, as the server and every admin command open it. */
export function databaseOptionsOf(config: ServerConfig): DatabaseOptions {
  return { path: config.database.path, url: config.database.url, authToken: config.database.authToken, backupDir: backupDirOf(config) };
}

export async function openServerContext(args: { config?: string }): Promise<ServerContext> {
  const loaded = loadServerConfig(resolveConfigPath(configFlag(args)));
  const { config } = loaded;
  const opened = await openDatabase(databaseOptionsOf(config));
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
