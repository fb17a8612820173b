import { defineCommand } from "citty";
import { listAuthTokens } from "../../db/queries/auth-tokens.ts";
import { formatDate } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List auth tokens (deactivated ones too)" },
  args: {
    ...configArgs,
    ...jsonArgs,
    expand: { type: "boolean", description: "Show whole token values" },
    all: { type: "boolean", description: "Add the state of each token's tunnel" },
  },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listAuthTokens(db, { all: args.all }));
    printListing(args, rows, {
      headers: ["ID", "Created", "User", "Tunnel", "Value", "Active", ...(args.all ? ["Tunnel State"] : [])],
      row: (t) => [
        t.id,
        formatDate(t.created),
        t.user || "-",
        t.tunnel || "-",
        args.expand ? t.value : `${t.value.slice(0, 16)}...`,
        boolCell(t.active),
        ...(args.all ? [t.tunnelState || "-"] : []),
      ],
      noun: ["token"],
    });
  },
});
