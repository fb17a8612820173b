import { defineCommand } from "citty";
import { addAllocatedPort } from "../../lib/client-config/index.ts";
import { clientApiFor, editClientConfig, openClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "allocate", description: "Ask the server for a TCP port for this tunnel" },
  args: {
    ...configArgs,
    private: { type: "boolean", description: "Mesh only: no public listener; other tunnels reach it with pktriot ports map" },
  },
  async run({ args }) {
    const port = await clientApiFor(openClientConfig(args)).allocatePort();
    await editClientConfig(args, (c) => addAllocatedPort(c, port, Boolean(args.private)));
    console.log(`Allocated port ${port}${args.private ? " (private: reachable through the mesh only)" : ""}`);
  },
});
