import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "service", description: "Run the pktriot client as a systemd service" },
  subCommands: {
    install: () => load(import("./install.ts")),
    uninstall: () => load(import("./uninstall.ts")),
    status: () => load(import("./status.ts")),
  },
});
