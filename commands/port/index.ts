import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "port", description: "Inspect allocated TCP ports" },
  subCommands: {
    ls: () => load(import("./ls.ts")),
  },
});
