import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "http", description: "HTTP/HTTPS traffic rules" },
  subCommands: {
    add: () => load(import("./add.ts")),
    ls: () => load(import("./ls.ts")),
    rm: () => load(import("./rm.ts")),
  },
});
