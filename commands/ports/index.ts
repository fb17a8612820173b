import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "ports", description: "Local ports that reach hosts through the server (mesh)" },
  subCommands: {
    map: () => load(import("./map.ts")),
    ls: () => load(import("./ls.ts")),
    rm: () => load(import("./rm.ts")),
  },
});
