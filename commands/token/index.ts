import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "token", description: "Manage client auth tokens (one per tunnel)" },
  subCommands: {
    create: () => load(import("./create.ts")),
    ls: () => load(import("./ls.ts")),
    rm: () => load(import("./rm.ts")),
  },
});
