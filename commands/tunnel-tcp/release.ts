import { defineCommand } from "citty";
import { removeAllocatedPort, requireAllocatedPort } from "../../lib/client-config/index.ts";
import { portArg } from "../_client-args.ts";
import { clientApiFor, editClientConfig, openClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "release", description: "Give an allocated port back to the server" },
  args: { ...configArgs, port: { type: "string", description: "Allocated port", valueHint: "PORT" } },
  async run({ args }) {
    const port = portArg(args.port, "--port");
    const ctx = openClientConfig(args);
    // Refuse a port this config does not hold before asking the server.
    requireAllocatedPort(ctx.config, port);
    await clientApiFor(ctx).releasePort(port);
    await editClientConfig(args, (c) => removeAllocatedPort(c, port));
    console.log(`Released port ${port}`);
  },
});
