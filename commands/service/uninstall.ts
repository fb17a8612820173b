import { defineCommand } from "citty";
import { SPOKES_SERVICE, serviceArgs, uninstallService } from "../_service.ts";

export default defineCommand({
  meta: { name: "uninstall", description: "Stop and disable the service and remove its unit (keeps configuration, data and user)" },
  args: { ...serviceArgs },
  run({ args }) {
    uninstallService(SPOKES_SERVICE, { dryRun: args["dry-run"] });
  },
});
