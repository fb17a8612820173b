import { defineCommand } from "citty";
import { listTunnels } from "../../db/queries/tunnels.ts";
import { formatDate, formatUptime } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { bandwidthCell, boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List active tunnels" },
  args: {
    ...configArgs,
    ...jsonArgs,
    online: { type: "boolean", description: "Only online tunnels" },
    all: { type: "boolean", description: "Include shut-down tunnels" },
  },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listTunnels(db, { online: args.online, all: args.all }));
    // A cluster (some tunnel has a location) adds the node holding each connection.
    const cluster = rows.some((t) => t.node);
    printListing(args, rows, {
      headers: ["ID", "User", "Hostname", "Online", "Address", ...(cluster ? ["Node"] : []), "Uptime", "Daily / Monthly", "Created"],
      row: (t) => [t.id, t.user || "-", t.hostname || "-", boolCell(t.online), t.address || "-", ...(cluster ? [t.node || "-"] : []), formatUptime(t.uptime), bandwidthCell(t.bandwidth), formatDate(t.created)],
      noun: ["tunnel"],
    });
  },
});
