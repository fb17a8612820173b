import { defineCommand } from "citty";
import { addPortMap } from "../../lib/client-config/index.ts";
import { UserError } from "../../lib/errors.ts";
import { localPortProblem } from "../../lib/tunnel/client/mesh-listeners.ts";
import { destinationArg, portArg } from "../_client-args.ts";
import { editClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "map", description: "Reach HOST:PORT through the server from 127.0.0.1:LOCAL while the client runs" },
  args: {
    ...configArgs,
    local: { type: "positional", description: "Local port on 127.0.0.1", valueHint: "LOCAL" },
    transport: { type: "string", description: "Transport (tcp)", default: "tcp" },
    destination: { type: "string", description: "Host resolved by the server", valueHint: "HOST" },
    port: { type: "string", description: "Port on the destination", valueHint: "PORT" },
  },
  async run({ args }) {
    const listenPort = portArg(args.local, "local port");
    const transport = String(args.transport ?? "tcp").toLowerCase();
    if (transport !== "tcp") throw new UserError(`--transport ${JSON.stringify(transport)} is not supported (only tcp)`);
    const destination = destinationArg(args.destination, "--destination");
    const dstPort = portArg(args.port, "--port");
    await editClientConfig(args, (c) => {
      addPortMap(c, { listenPort, dstPort, destination, transport: "tcp", label: "", http: false });
      // Checked here, not only by a running client (which logs it), so the mistake is seen at once.
      const problem = localPortProblem(listenPort);
      if (problem) throw new UserError(problem);
    });
    console.log(`Mapped 127.0.0.1:${listenPort} to ${destination}:${dstPort} (tcp)`);
  },
});
