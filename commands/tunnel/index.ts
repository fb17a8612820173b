import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "tunnel", description: "TODO" },
  subCommands: {},
});
