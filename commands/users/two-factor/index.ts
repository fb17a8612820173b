import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "two-factor", description: "Enable, disable or reset a user's two-factor authentication" },
  subCommands: {
    enable: () => load(import("./enable.ts")),
    disable: () => load(import("./disable.ts")),
    reset: () => load(import("./reset.ts")),
  },
});
