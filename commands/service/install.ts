import { defineCommand } from "citty";
import { resolveConfigPath } from "../../lib/config/server-config.ts";
import { SPOKES_SERVICE, installArgs, installService } from "../_service.ts";
import { configFlag } from "../_shared.ts";

export default defineCommand({
  meta: { name: "install", description: "Install, enable and start the hardened systemd unit running this executable" },
  args: { ...installArgs },
  run({ args }) {
    installService(SPOKES_SERVICE, { configPath: resolveConfigPath(configFlag(args)), user: args.user, dryRun: args["dry-run"] });
  },
});
