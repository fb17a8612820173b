// `spokes backup [--out FILE]`: a consistent copy of the SQLite database, also while the
// server runs. Without --out it goes to dataPath/backups/ with the automatic copies taken
// before migrations (the newest five are kept).
import { defineCommand } from "citty";
import { backupSqliteFile } from "../db/client.ts";
import { isPostgresUrl } from "../db/postgres.ts";
import { loadServerConfig, resolveConfigPath, type ServerConfig } from "../lib/config/server-config.ts";
import { UserError } from "../lib/errors.ts";
import { backupDirOf } from "./_server-context.ts";
import { configArgs, configFlag } from "./_shared.ts";

/** The SQLite file of the configuration; other engines have their own backup tools. */
function sqliteFileOf(config: ServerConfig): string {
  const url = config.database.url;
  if (!url) return config.database.path;
  if (isPostgresUrl(url)) throw new UserError("the database is PostgreSQL: back it up with pg_dump (e.g. pg_dump --format=custom --file=spokes.dump \"$URL\")");
  if (url.startsWith("file:")) return url.slice("file:".length);
  throw new UserError("the database is a libSQL server: back it up on that server");
}

export default defineCommand({
  meta: { name: "backup", description: "Copy the SQLite database to a file, also while the server runs" },
  args: {
    ...configArgs,
    out: { type: "string", description: "File to write (must not exist); default: a new file in DATAPATH/backups/" },
  },
  async run({ args }) {
    const { config } = loadServerConfig(resolveConfigPath(configFlag(args)));
    const file = sqliteFileOf(config);
    if (args.out !== undefined && !String(args.out).trim()) throw new UserError("--out needs a file name", 2);
    const out = await backupSqliteFile(file, args.out ? { out: String(args.out) } : { backupDir: backupDirOf(config) });
    console.log(out);
  },
});
