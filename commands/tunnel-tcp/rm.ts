import { defineCommand } from "citty";
import { clearPortForward } from "../../lib/client-config/index.ts";
import { portArg } from "../_client-args.ts";
import { editClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "rm", alias: ["remove"], description: "Stop forwarding a port (it stays allocated)" },
  args: { ...configArgs, port: { type: "string", description: "Allocated port", valueHint: "PORT" } },
  async run({ args }) {
    const port = portArg(args.port, "--port");
    await editClientConfig(args, (c) => clearPortForward(c, port));
    console.log(`Cleared forward for port ${port} (still allocated; release it with pktriot tunnel tcp release --port ${port})`);
  },
});
