import { defineCommand } from "citty";
import { listRegistrationTokens } from "../../db/queries/registration-tokens.ts";
import { formatDate } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List registration tokens" },
  args: { ...configArgs, ...jsonArgs },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listRegistrationTokens(db));
    printListing(args, rows, {
      headers: ["ID", "Created", "Description", "Value", "Active"],
      row: (t) => [t.id, formatDate(t.created), t.description, `${t.value.slice(0, 14)}....`, boolCell(t.active)],
      noun: ["registration token"],
    });
  },
});
