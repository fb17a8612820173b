import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "apikey", description: "TODO" },
  subCommands: {},
});
