import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "socks", description: "A SOCKS5 listener on 127.0.0.1" },
  subCommands: {
    listen: () => load(import("./listen.ts")),
    rm: () => load(import("./rm.ts")),
  },
});
