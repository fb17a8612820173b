import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "registration", description: "TODO" },
  subCommands: {},
});
