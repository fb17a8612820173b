import { defineCommand } from "citty";
import { createUser, findUserByEmail, parseEmail } from "../../db/queries/users.ts";
import { USER_ORIGIN } from "../../db/schema.ts";
import { UserError } from "../../lib/errors.ts";
import { readNewPassword } from "../_prompt.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, passwordStdinArgs, requireValue } from "../_shared.ts";

export default defineCommand({
  meta: { name: "add", description: "Add an admin user (prompts for the password)" },
  args: {
    ...configArgs,
    email: { type: "string", description: "Email address (the login name)", required: true },
    fullname: { type: "string", description: "Full name", required: true },
    enable2FA: { type: "boolean", description: "Require two-factor authentication, set up at first login" },
    ...passwordStdinArgs,
  },
  async run({ args }) {
    // Refuse a bad or taken email before asking for a password nobody will use.
    const email = parseEmail(requireValue(args.email, "email"));
    const fullName = requireValue(args.fullname, "fullname");
    await withServerContext(args, async ({ db }) => {
      if (await findUserByEmail(db, email)) throw new UserError(`a user with email ${email} already exists`);
      const password = await readNewPassword({ fromStdin: Boolean(args["password-stdin"]) });
      await createUser(db, { email, fullName, password, origin: USER_ORIGIN.adminCli, enable2FA: Boolean(args.enable2FA) });
    });
    if (args.enable2FA) console.log("Info: Two-factor authentication (one-time-passcodes) will be setup on first-login.");
    console.log("User created!");
  },
});
