import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "port", description: "TODO" },
  subCommands: {},
});
