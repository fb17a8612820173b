// The pktriot `tunnel` group (the spokes admin CLI has its own `tunnel` in ../tunnel).
// `route` is the original client's older name for the same commands.
import { defineCommand } from "citty";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export default defineCommand({
  meta: { name: "tunnel", alias: ["route"], description: "Traffic rules: HTTP domains and TCP ports" },
  subCommands: {
    http: () => load(import("../tunnel-http/index.ts")),
    tcp: () => load(import("../tunnel-tcp/index.ts")),
  },
});
