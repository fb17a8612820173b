import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "proxies", description: "Local proxies whose connections the server resolves" },
  subCommands: {
    socks: () => load(import("./socks/index.ts")),
  },
});
