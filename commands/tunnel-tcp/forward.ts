import { defineCommand } from "citty";
import { setPortForward } from "../../lib/client-config/index.ts";
import { destinationArg, firewallArgs, firewallFromArgv, portArg } from "../_client-args.ts";
import { editClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "forward", description: "Forward an allocated port to a destination" },
  args: {
    ...configArgs,
    port: { type: "string", description: "Allocated port on the server", valueHint: "PORT" },
    destination: { type: "string", description: "Host to forward to (default 127.0.0.1)", valueHint: "HOST" },
    dstport: { type: "string", description: "Port on the destination", valueHint: "PORT" },
    ...firewallArgs,
  },
  async run({ args, rawArgs }) {
    const port = portArg(args.port, "--port");
    const destination = destinationArg(args.destination, "--destination", "127.0.0.1");
    const dstPort = portArg(args.dstport, "--dstport");
    const firewall = firewallFromArgv(rawArgs);
    await editClientConfig(args, (c) => setPortForward(c, port, destination, dstPort, firewall));
    console.log(`Forwarding port ${port} to ${destination}:${dstPort}`);
  },
});
