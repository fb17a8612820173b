import { defineCommand } from "citty";
import { listPortAllocations } from "../../db/queries/ports.ts";
import { formatUptime } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { bandwidthCell, boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

export default defineCommand({
  meta: { name: "ls", description: "List allocated TCP ports" },
  args: { ...configArgs, ...jsonArgs },
  async run({ args }) {
    const rows = await withServerContext(args, ({ db }) => listPortAllocations(db));
    printListing(args, rows, {
      headers: ["Port No.", "User", "Tunnel ID", "Tunnel Online", "Tunnel Uptime", "Daily / Monthly", "Private"],
      row: (p) => [String(p.port), p.user || "-", p.tunID, boolCell(p.online), formatUptime(p.uptime), bandwidthCell(p.bandwidth), boolCell(p.private)],
      noun: ["port allocation"],
    });
  },
});
