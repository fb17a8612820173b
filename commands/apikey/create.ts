import { defineCommand } from "citty";
import { createAdminApiKey } from "../../db/queries/admin-api-keys.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, printSecret } from "../_shared.ts";

export default defineCommand({
  meta: { name: "create", description: "Create an Admin API key (shown once: only its hash is stored)" },
  args: { ...configArgs, description: { type: "string", description: "What the key is for" } },
  async run({ args }) {
    const { value } = await withServerContext(args, ({ db }) => createAdminApiKey(db, { description: args.description }));
    printSecret("Admin API key:", value);
  },
});
