import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "users", description: "Manage admin users (and list tunnel users)" },
  subCommands: {
    add: () => load(import("./add.ts")),
    ls: () => load(import("./ls.ts")),
    passwd: () => load(import("./passwd.ts")),
    "two-factor": () => load(import("./two-factor/index.ts")),
  },
});
