import { defineCommand } from "citty";
import type { TunnelStatus } from "../lib/client-api/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { clientApiFor, isConfigured, openClientConfig } from "./_client-context.ts";
import { configArgs, jsonArgs, printJson } from "./_shared.ts";
import { portMapsTable } from "./ports/_table.ts";
import { httpRulesTable } from "./tunnel-http/_table.ts";
import { tcpPortsTable } from "./tunnel-tcp/_table.ts";

export default defineCommand({
  meta: { name: "status", alias: ["info"], description: "Show the server, tunnel, online state and rules" },
  args: { ...configArgs, ...jsonArgs },
  async run({ args }) {
    const ctx = openClientConfig(args);
    const { config } = ctx;
    // The local rules are worth showing even when the server cannot be asked.
    let remote: TunnelStatus | undefined;
    let problem: string | undefined;
    const configured = isConfigured(config);
    if (!configured) problem = "not configured; run pktriot unmanaged configure";
    else {
      try {
        remote = await clientApiFor(ctx).status();
      } catch (err) {
        problem = errorMessage(err);
      }
    }

    if (args.json) {
      printJson({
        server: config.serverHost,
        ...(config.failoverHosts ? { failoverHosts: config.failoverHosts } : {}),
        tunnelID: config.tunnelID,
        hostname: remote?.hostname || config.hostname,
        config: ctx.path,
        online: remote ? remote.online : null,
        ...(problem ? { error: problem } : {}),
        https: config.https,
        ports: config.ports,
        portmaps: config.portmaps,
        socks: config.socks,
      });
      return;
    }
    const online = remote ? (remote.online ? "yes" : "no") : configured ? `unknown (${problem})` : `-- (${problem})`;
    console.log(
      [
        "Client:",
        `\tServer:    ${config.serverHost || "--"}`,
        ...(config.failoverHosts ? [`\tFailover:  ${config.failoverHosts.join(", ")}`] : []),
        `\tTunnel ID: ${config.tunnelID || "--"}`,
        `\tHostname:  ${remote?.hostname || config.hostname || "--"}`,
        `\tConfig:    ${ctx.path}`,
        `\tOnline:    ${online}`,
        "",
        "HTTP rules:",
        httpRulesTable(config.https),
        "",
        "TCP ports:",
        tcpPortsTable(config.ports),
        "",
        "Port mappings:",
        portMapsTable(config.portmaps),
        "",
        `SOCKS proxy: ${config.socks.listenPort ? `127.0.0.1:${config.socks.listenPort}` : "--"}`,
      ].join("\n"),
    );
  },
});
