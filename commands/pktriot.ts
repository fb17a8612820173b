#!/usr/bin/env bun
// Root of the `pktriot` executable: the tunnel client.
import { defineCommand } from "citty";
import { VERSION } from "../lib/version.ts";
import { main } from "./_main.ts";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

export const pktriot = defineCommand({
  meta: { name: "pktriot", version: VERSION, description: "Tunnel client for a Spokes server (global flag: --config PATH)" },
  subCommands: {
    version: () => load(import("./version.ts")),
  },
});

if (import.meta.main) main(pktriot);
