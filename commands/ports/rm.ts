import { defineCommand } from "citty";
import { removePortMap } from "../../lib/client-config/index.ts";
import { portArg } from "../_client-args.ts";
import { editClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "rm", alias: ["remove"], description: "Remove a port mapping" },
  args: { ...configArgs, local: { type: "positional", description: "Local port of the mapping", valueHint: "LOCAL" } },
  async run({ args }) {
    const listenPort = portArg(args.local, "local port");
    await editClientConfig(args, (c) => removePortMap(c, listenPort));
    console.log("Removed port mapping");
  },
});
