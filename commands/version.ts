import { defineCommand } from "citty";
import { VERSION } from "../lib/version.ts";

export default defineCommand({
  meta: { name: "version", description: "Print the version" },
  run() {
    console.log(VERSION);
  },
});
