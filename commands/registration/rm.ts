import { defineCommand } from "citty";
import { deactivateRegistrationToken, deactivateRegistrationTokens } from "../../db/queries/registration-tokens.ts";
import { countLine } from "../../lib/format/table.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, idOrAll, removeArgs } from "../_shared.ts";

export default defineCommand({
  meta: { name: "rm", description: "Deactivate registration tokens (they stay in the database)" },
  args: { ...configArgs, ...removeArgs },
  async run({ args }) {
    const target = idOrAll(args);
    const n = await withServerContext(args, async ({ db }) =>
      "all" in target ? deactivateRegistrationTokens(db) : (await deactivateRegistrationToken(db, target.id), 1),
    );
    console.log(`Deactivated ${countLine(n, "registration token")}`);
  },
});
