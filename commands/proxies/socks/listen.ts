import { defineCommand } from "citty";
import { setSocksListener } from "../../../lib/client-config/index.ts";
import { UserError } from "../../../lib/errors.ts";
import { localPortProblem } from "../../../lib/tunnel/client/mesh-listeners.ts";
import { portArg } from "../../_client-args.ts";
import { editClientConfig } from "../../_client-context.ts";
import { configArgs } from "../../_shared.ts";

export default defineCommand({
  meta: { name: "listen", description: "Listen for SOCKS5 on 127.0.0.1:PORT while the client runs" },
  args: { ...configArgs, port: { type: "positional", description: "Local port", valueHint: "PORT" } },
  async run({ args }) {
    const port = portArg(args.port, "port");
    await editClientConfig(args, (c) => {
      const unchanged = c.socks.listenPort === port;
      setSocksListener(c, port);
      // A running client already holds its own port: only a new one is checked.
      const problem = unchanged ? undefined : localPortProblem(port);
      if (problem) throw new UserError(problem);
    });
    console.log(`SOCKS5 proxy on 127.0.0.1:${port} (connections resolved by the server)`);
  },
});
