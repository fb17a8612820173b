import { defineCommand } from "citty";
import { openClientConfig } from "../_client-context.ts";
import { configArgs, jsonArgs, printJson } from "../_shared.ts";
import { httpRulesTable } from "./_table.ts";

export default defineCommand({
  meta: { name: "ls", alias: ["list"], description: "List the HTTP rules" },
  args: { ...configArgs, ...jsonArgs },
  run({ args }) {
    const { config } = openClientConfig(args);
    if (args.json) printJson(config.https);
    else console.log(httpRulesTable(config.https));
  },
});
