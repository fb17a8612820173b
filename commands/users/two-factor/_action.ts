// The three two-factor leaves differ only in the action and the message they print.
import { defineCommand } from "citty";
import { getAdminUser, setTwoFactor } from "../../../db/queries/users.ts";
import { withServerContext } from "../../_server-context.ts";
import { configArgs, userSelector } from "../../_shared.ts";
import { userArgs } from "../_user-args.ts";

const ACTIONS = {
  enable: { description: "Require two-factor authentication (set up at next login)", done: "Two-factor enabled, setup will be completed on next login" },
  disable: { description: "Turn two-factor authentication off", done: "Two-factor disabled for user" },
  reset: { description: "Drop the current secret; a new one is set up at next login", done: "Two-factor reset, setup will be completed on next login" },
} as const;

export function twoFactorCommand(action: keyof typeof ACTIONS) {
  return defineCommand({
    meta: { name: action, description: ACTIONS[action].description },
    args: { ...configArgs, ...userArgs },
    async run({ args }) {
      const by = userSelector(args);
      await withServerContext(args, async ({ db }) => setTwoFactor(db, (await getAdminUser(db, by)).id, action));
      console.log(ACTIONS[action].done);
    },
  });
}
