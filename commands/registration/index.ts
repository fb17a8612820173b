import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "registration", description: "Manage registration tokens (clients trade them for auth tokens)" },
  subCommands: {
    create: () => load(import("./create.ts")),
    ls: () => load(import("./ls.ts")),
    rm: () => load(import("./rm.ts")),
  },
});
