import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "users", description: "TODO" },
  subCommands: {},
});
