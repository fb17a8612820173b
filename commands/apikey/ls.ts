import { defineCommand } from "citty";
import { listAdminApiKeys } from "../../db/queries/admin-api-keys.ts";
import { formatDate } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List Admin API keys" },
  args: { ...configArgs, ...jsonArgs },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listAdminApiKeys(db));
    printListing(args, rows, {
      headers: ["ID", "Created", "Description", "Key", "Last Used", "Active"],
      row: (k) => [k.id, formatDate(k.created), k.description, `${k.prefix}....`, formatDate(k.lastUsed), boolCell(k.active)],
      noun: ["API key"],
    });
  },
});
