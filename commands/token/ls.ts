import { defineCommand } from "citty";
import { listAuthTokens } from "../../db/queries/auth-tokens.ts";
import { formatDate } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List active auth tokens" },
  args: {
    ...configArgs,
    ...jsonArgs,
    expand: { type: "boolean", description: "Show whole token values" },
    all: { type: "boolean", description: "Include deactivated tokens" },
  },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listAuthTokens(db, { all: args.all }));
    printListing(args, rows, {
      headers: ["ID", "Created", "User", "Tunnel", "Value", "Active"],
      row: (t) => [t.id, formatDate(t.created), t.user || "-", t.tunnel || "-", args.expand ? t.value : `${t.value.slice(0, 16)}...`, boolCell(t.active)],
      noun: ["token"],
    });
  },
});
