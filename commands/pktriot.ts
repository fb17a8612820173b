#!/usr/bin/env bun
// Root of the `pktriot` executable: the tunnel client.
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { VERSION } from "../lib/version.ts";
import { main } from "./_main.ts";

const load = <T>(p: Promise<{ default: T }>) => p.then((m) => m.default);

// Annotated: the completion command walks this very tree (a self-reference).
export const pktriot: CommandDef<ArgsDef> = defineCommand({
  meta: { name: "pktriot", version: VERSION, description: "Tunnel client for a Spokes server (global flags: --config PATH, --log-level LEVEL, --log-format text|json)" },
  subCommands: {
    unmanaged: () => load(import("./unmanaged/index.ts")),
    tunnel: () => load(import("./client-tunnel/index.ts")),
    ports: () => load(import("./ports/index.ts")),
    proxies: () => load(import("./proxies/index.ts")),
    start: () => load(import("./client-start.ts")),
    http: () => load(import("./quick-http.ts")),
    tcp: () => load(import("./quick-tcp.ts")),
    status: () => load(import("./status.ts")),
    service: () => load(import("./client-service/index.ts")),
    version: () => load(import("./version.ts")),
    completion: () => import("./completion.ts").then((m) => m.completionCommand(() => pktriot)),
  },
});

if (import.meta.main) main(pktriot);
