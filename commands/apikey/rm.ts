import { defineCommand } from "citty";
import { revokeAdminApiKey } from "../../db/queries/admin-api-keys.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, idArgs, requireValue } from "../_shared.ts";

export default defineCommand({
  meta: { name: "rm", description: "Revoke an Admin API key" },
  args: { ...configArgs, id: { ...idArgs.id, required: true } },
  async run({ args }) {
    const id = requireValue(args.id, "id");
    await withServerContext(args, ({ db }) => revokeAdminApiKey(db, id));
    console.log("Admin API key revoked");
  },
});
