import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "unmanaged", description: "Connect this client to a self-hosted Spokes server" },
  subCommands: {
    configure: () => load(import("./configure.ts")),
    deauth: () => load(import("./deauth.ts")),
  },
});
