// `pktriot tcp PORT`: quick mode for a local TCP service on a freshly allocated port (SPEC 3.3).
import { defineCommand } from "citty";
import { consola } from "consola";
import { addAllocatedPort, removeAllocatedPort, updateClientConfig } from "../lib/client-config/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { destinationArg, portArg } from "./_client-args.ts";
import { clientApiFor, openClientConfig } from "./_client-context.ts";
import { publicTcpAddress, refuseExisting, runQuickTunnel } from "./_quick.ts";
import { configArgs } from "./_shared.ts";
import { restartWithTunedAllocator } from "./_tuned-allocator.ts";

export default defineCommand({
  meta: { name: "tcp", description: "Serve a local TCP port on a temporary server port until stopped" },
  args: {
    ...configArgs,
    port: { type: "positional", description: "Local TCP port", valueHint: "PORT" },
    destination: { type: "string", description: "Host to forward to (default 127.0.0.1)", valueHint: "HOST" },
  },
  async run({ args }) {
    restartWithTunedAllocator();
    const dstPort = portArg(args.port, "local port");
    const destination = destinationArg(args.destination, "--destination", "127.0.0.1");
    const ctx = openClientConfig(args);
    const api = clientApiFor(ctx);
    const port = await api.allocatePort();
    await runQuickTunnel(ctx, {
      name: `port ${port}`,
      address: publicTcpAddress(ctx.config.serverHost, port),
      target: `${destination}:${dstPort}`,
      add(config) {
        refuseExisting(config.ports.some((p) => p.port === port), `port ${port}`);
        config.ports.push({ port, destination, dstPort, firewall: [] });
      },
      remove(config) {
        removeAllocatedPort(config, port);
      },
      async release() {
        try {
          await api.releasePort(port);
        } catch (err) {
          // Keep the allocation in the file, so it can be given back later.
          await updateClientConfig(ctx.path, (c) => addAllocatedPort(c, port));
          consola.warn(`port ${port} stays allocated to this tunnel (${errorMessage(err)}); give it back with pktriot tunnel tcp release --port ${port}`);
        }
      },
    });
  },
});
