import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { clientConfigCandidates } from "../../lib/client-config/paths.ts";
import { PKTRIOT_SERVICE, installArgs, installService } from "../_service.ts";
import { configFlag } from "../_shared.ts";

/** `--config`, else PKTRIOT_CONFIG, else the first well-known file that exists, else /etc/pktriot/config.json. */
function serviceConfigPath(flag: string | undefined): string {
  const candidates = clientConfigCandidates();
  return flag?.trim() || process.env.PKTRIOT_CONFIG?.trim() || candidates.find((p) => existsSync(p)) || PKTRIOT_SERVICE.defaultConfigPath;
}

export default defineCommand({
  meta: { name: "install", description: "Install, enable and start the hardened systemd unit running this executable" },
  args: { ...installArgs },
  run({ args }) {
    installService(PKTRIOT_SERVICE, { configPath: serviceConfigPath(configFlag(args)), user: args.user, dryRun: args["dry-run"] });
  },
});
