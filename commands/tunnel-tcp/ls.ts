import { defineCommand } from "citty";
import { openClientConfig } from "../_client-context.ts";
import { configArgs, jsonArgs, printJson } from "../_shared.ts";
import { tcpPortsJson, tcpPortsTable } from "./_table.ts";

export default defineCommand({
  meta: { name: "ls", alias: ["list"], description: "List allocated TCP ports and their forwards" },
  args: { ...configArgs, ...jsonArgs },
  run({ args }) {
    const { config } = openClientConfig(args);
    if (args.json) printJson(tcpPortsJson(config.ports));
    else console.log(tcpPortsTable(config.ports));
  },
});
