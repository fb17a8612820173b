import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "token", description: "TODO" },
  subCommands: {},
});
