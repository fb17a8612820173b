import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "cluster", description: "Inspect the nodes of a cluster sharing this database" },
  subCommands: {
    ls: () => load(import("./ls.ts")),
  },
});
