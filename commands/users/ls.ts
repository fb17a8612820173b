import { defineCommand } from "citty";
import { listUsers } from "../../db/queries/users.ts";
import { formatDate } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List admin users" },
  args: {
    ...configArgs,
    ...jsonArgs,
    all: { type: "boolean", description: "Include tunnel users (origin Tunnel Registration)" },
  },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listUsers(db, { all: args.all }));
    printListing(args, rows, {
      headers: ["ID", "Email", "Fullname", "Origin", "Created"],
      row: (u) => [u.id, u.email, u.fullName, u.origin, formatDate(u.created)],
      noun: ["user"],
    });
  },
});
