import { defineCommand } from "citty";
import { openClientConfig } from "../_client-context.ts";
import { configArgs, jsonArgs, printJson } from "../_shared.ts";
import { portMapsTable } from "./_table.ts";

export default defineCommand({
  meta: { name: "ls", alias: ["list"], description: "List port mappings" },
  args: { ...configArgs, ...jsonArgs },
  run({ args }) {
    const { config } = openClientConfig(args);
    if (args.json) printJson(config.portmaps);
    else console.log(portMapsTable(config.portmaps));
  },
});
