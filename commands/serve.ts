// `spokes serve` (alias `start`): the edge server in the foreground.
import { defineCommand } from "citty";
import { consola } from "consola";
import { configArgs, configFlag, logUnexpectedErrors } from "./_shared.ts";
import { startEdgeServer } from "./_serve/edge-server.ts";
import { loadServerConfig, resolveConfigPath } from "../lib/config/server-config.ts";
import { restartWithTunedAllocator } from "./_tuned-allocator.ts";

export default defineCommand({
  meta: { name: "serve", alias: "start", description: "Run the edge server in the foreground" },
  args: { ...configArgs },
  async run({ args }) {
    restartWithTunedAllocator();
    const loaded = loadServerConfig(resolveConfigPath(configFlag(args)), { allowCreate: true });
    if (loaded.created) consola.info(`wrote a new configuration to ${loaded.path}`);
    const server = await startEdgeServer(loaded, consola);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      consola.info(`${signal}: stopping`);
      await server.stop();
      process.exit(0);
    };
    logUnexpectedErrors(consola);
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGTERM", () => void stop("SIGTERM"));
    // Keeps the command (and the process) alive until a signal arrives.
    await new Promise(() => {});
  },
});
