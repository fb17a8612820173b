import { defineCommand } from "citty";
import { findHousekeepingIssues, fixHousekeepingIssues } from "../db/queries/housekeeping.ts";
import { clusterSettingsOf } from "../lib/config/server-config.ts";
import { withServerContext } from "./_server-context.ts";
import { configArgs } from "./_shared.ts";

export default defineCommand({
  meta: { name: "clean", description: "Fix inconsistent tunnels, ports and cluster tunnel locations (--check only reports them)" },
  args: {
    ...configArgs,
    check: { type: "boolean", description: "List the issues without changing anything; exit 1 when there are any" },
  },
  async run({ args }) {
    await withServerContext(args, async ({ db, loaded }) => {
      // Locations are checked whenever there are any; cluster mode adds "online tunnels need one".
      const opts = { portRange: loaded.config.portRange, cluster: Boolean(clusterSettingsOf(loaded.config)) };
      if (!args.check) {
        console.log(`Issues Fixed (tunnels + ports): ${await fixHousekeepingIssues(db, opts)}`);
        return;
      }
      const issues = await findHousekeepingIssues(db, opts);
      for (const issue of issues) console.log(issue.description);
      console.log(`Issues Found (tunnels + ports): ${issues.length}`);
      // For cron and monitoring scripts (SPEC 2.2).
      if (issues.length) process.exitCode = 1;
    });
  },
});
