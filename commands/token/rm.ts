import { defineCommand } from "citty";
import { deactivateAuthToken, deactivateAuthTokens } from "../../db/queries/auth-tokens.ts";
import { countLine } from "../../lib/format/table.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, idOrAll, removeArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "rm", description: "Deactivate auth tokens; their tunnels are shut down and their ports released" },
  args: { ...configArgs, ...removeArgs },
  async run({ args }) {
    const target = idOrAll(args);
    const n = await withServerContext(args, async ({ db }) => ("all" in target ? deactivateAuthTokens(db) : (await deactivateAuthToken(db, target.id), 1)));
    console.log(`Deactivated ${countLine(n, "token")}`);
  },
});
