import { defineCommand } from "citty";
import { configArgs } from "./_shared.ts";
import { withServerContext } from "./_server-context.ts";

export default defineCommand({
  meta: { name: "clean", description: "TODO" },
  args: { ...configArgs },
  async run({ args }) {
    await withServerContext(args, async () => {});
  },
});
