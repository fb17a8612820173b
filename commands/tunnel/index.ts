import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "tunnel", description: "Inspect tunnels" },
  subCommands: {
    ls: () => load(import("./ls.ts")),
  },
});
