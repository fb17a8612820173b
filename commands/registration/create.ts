import { defineCommand } from "citty";
import { createRegistrationToken } from "../../db/queries/registration-tokens.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, printSecret } from "../_shared.ts";

export default defineCommand({
  meta: { name: "create", description: "Create a registration token" },
  args: { ...configArgs, description: { type: "string", description: "What the token is for" } },
  async run({ args }) {
    const token = await withServerContext(args, ({ db }) => createRegistrationToken(db, { description: args.description }));
    printSecret("Registration token:", token.value);
  },
});
