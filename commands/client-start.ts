// `pktriot start`: runs the tunnel in the foreground until SIGINT/SIGTERM.
import { defineCommand } from "citty";
import { findClientConfigPath } from "../lib/client-config/index.ts";
import { runTunnelInForeground } from "./_run-tunnel.ts";
import { configArgs, configFlag } from "./_shared.ts";
import { restartWithTunedAllocator } from "./_tuned-allocator.ts";

export default defineCommand({
  meta: { name: "start", description: "Connect to the server and serve the tunnel's traffic rules" },
  args: { ...configArgs },
  async run({ args }) {
    restartWithTunedAllocator();
    await runTunnelInForeground({ path: findClientConfigPath({ flag: configFlag(args) }) });
  },
});
