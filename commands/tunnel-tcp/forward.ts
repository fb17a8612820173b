import { defineCommand } from "citty";
import { requireAllocatedPort, setPortAccess, setPortForward } from "../../lib/client-config/index.ts";
import { UserError } from "../../lib/errors.ts";
import { destinationArg, firewallArgs, firewallFromArgv, meshAllowArgs, meshAllowFromArgv, portArg } from "../_client-args.ts";
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
    private: { type: "boolean", description: "Mesh only: close the port's public listener" },
    public: { type: "boolean", description: "Open the port's public listener again (undoes --private)" },
    ...meshAllowArgs,
  },
  async run({ args, rawArgs }) {
    const port = portArg(args.port, "--port");
    const destination = destinationArg(args.destination, "--destination", "127.0.0.1");
    const dstPort = portArg(args.dstport, "--dstport");
    const firewall = firewallFromArgv(rawArgs);
    if (args.private && args.public) throw new UserError("give either --private or --public, not both", 2);
    const access = { private: args.private ? true : args.public ? false : undefined, meshAllow: meshAllowFromArgv(rawArgs) };
    const { config } = await editClientConfig(args, (c) => {
      setPortForward(c, port, destination, dstPort, firewall);
      setPortAccess(requireAllocatedPort(c, port), access);
    });
    const rule = requireAllocatedPort(config, port);
    const notes = [rule.private && "private", rule.meshAllow?.length && `mesh access: ${rule.meshAllow.join(", ")}`].filter(Boolean);
    console.log(`Forwarding port ${port} to ${destination}:${dstPort}${notes.length ? ` (${notes.join("; ")})` : ""}`);
    if (rule.meshAllow?.length && !rule.private) console.log(`The list limits the mesh only: port ${port} is still public (add --private to make it mesh-only)`);
  },
});
