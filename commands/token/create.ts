import { defineCommand } from "citty";
import { createAuthToken } from "../../db/queries/auth-tokens.ts";
import { isHostname } from "../../lib/net/hostname.ts";
import { UserError } from "../../lib/errors.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, printSecret } from "../_shared.ts";

export default defineCommand({
  meta: { name: "create", description: "Create an auth token and the tunnel bound to it" },
  args: { ...configArgs, hostname: { type: "string", description: "Hostname of the tunnel (informational)" } },
  async run({ args }) {
    const hostname = args.hostname?.trim() ?? "";
    if (args.hostname !== undefined && !isHostname(hostname)) throw new UserError(`invalid hostname ${JSON.stringify(args.hostname)}`);
    const { token } = await withServerContext(args, ({ db }) => createAuthToken(db, { hostname }));
    printSecret("Client auth-token:", token.value);
  },
});
