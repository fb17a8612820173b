import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "apikey", description: "Manage Admin API keys" },
  subCommands: {
    create: () => load(import("./create.ts")),
    ls: () => load(import("./ls.ts")),
    rm: () => load(import("./rm.ts")),
  },
});
