import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "tcp", description: "TCP port allocations and forwards" },
  subCommands: {
    allocate: () => load(import("./allocate.ts")),
    forward: () => load(import("./forward.ts")),
    ls: () => load(import("./ls.ts")),
    rm: () => load(import("./rm.ts")),
    release: () => load(import("./release.ts")),
  },
});
