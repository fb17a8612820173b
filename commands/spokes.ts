#!/usr/bin/env bun
// Root of the `spokes` executable: the edge server and its admin CLI.
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { VERSION } from "../lib/version.ts";
import { main } from "./_main.ts";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

// Annotated: the completion command walks this very tree (a self-reference).
export const spokes: CommandDef<ArgsDef> = defineCommand({
  meta: { name: "spokes", version: VERSION, description: "Self-hosted reverse-tunnel edge server (global flags: --config PATH, --log-level LEVEL, --log-format text|json)" },
  subCommands: {
    users: () => load(import("./users/index.ts")),
    registration: () => load(import("./registration/index.ts")),
    token: () => load(import("./token/index.ts")),
    apikey: () => load(import("./apikey/index.ts")),
    tunnel: () => load(import("./tunnel/index.ts")),
    port: () => load(import("./port/index.ts")),
    clean: () => load(import("./clean.ts")),
    cluster: () => load(import("./cluster/index.ts")),
    service: () => load(import("./service/index.ts")),
    backup: () => load(import("./backup.ts")),
    serve: () => load(import("./serve.ts")),
    version: () => load(import("./version.ts")),
    completion: () => import("./completion.ts").then((m) => m.completionCommand(() => spokes)),
  },
});

if (import.meta.main) main(spokes);
