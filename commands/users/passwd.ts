import { defineCommand } from "citty";
import { getAdminUser, setPassword } from "../../db/queries/users.ts";
import { readNewPassword } from "../_prompt.ts";
import { withServerContext } from "../_server-context.ts";
import { configArgs, passwordStdinArgs, userSelector } from "../_shared.ts";
import { userArgs } from "./_user-args.ts";

export default defineCommand({
  meta: { name: "passwd", description: "Change a user's password" },
  args: { ...configArgs, ...userArgs, ...passwordStdinArgs },
  async run({ args }) {
    const by = userSelector(args);
    await withServerContext(args, async ({ db }) => {
      const user = await getAdminUser(db, by);
      const password = await readNewPassword({ fromStdin: Boolean(args["password-stdin"]), prompt: `New password for '${user.email}': ` });
      await setPassword(db, user.id, password);
    });
    console.log("Password updated");
  },
});
