// `pktriot http PORT [--domain D]`: quick mode for a local web server (SPEC 3.3).
import { defineCommand } from "citty";
import { emptyHttpRule, isRuleDomain, removeHttpRule } from "../lib/client-config/index.ts";
import { UserError } from "../lib/errors.ts";
import { destinationArg, portArg } from "./_client-args.ts";
import { clientApiFor, openClientConfig } from "./_client-context.ts";
import { publicHttpUrl, randomLabel, refuseExisting, runQuickTunnel } from "./_quick.ts";
import { configArgs } from "./_shared.ts";
import { restartWithTunedAllocator } from "./_tuned-allocator.ts";

export default defineCommand({
  meta: { name: "http", description: "Serve a local HTTP port at a temporary hostname until stopped" },
  args: {
    ...configArgs,
    port: { type: "positional", description: "Local HTTP port", valueHint: "PORT" },
    domain: { type: "string", description: "Domain to serve (default: <random>.<server domain>)", valueHint: "DOMAIN" },
    destination: { type: "string", description: "Host to forward to (default 127.0.0.1)", valueHint: "HOST" },
  },
  async run({ args }) {
    restartWithTunedAllocator();
    const port = portArg(args.port, "local port");
    const destination = destinationArg(args.destination, "--destination", "127.0.0.1");
    const ctx = openClientConfig(args);
    const api = clientApiFor(ctx);
    // Also checks the key before anything is saved.
    const { domain: serverDomain } = await api.auth();
    let domain: string;
    if (args.domain !== undefined) {
      domain = String(args.domain).trim().toLowerCase().replace(/\.$/, "");
      if (!isRuleDomain(domain) || domain.startsWith("*.")) throw new UserError(`--domain ${JSON.stringify(args.domain)} is not a valid domain name`);
    } else {
      if (!serverDomain) throw new UserError(`server ${api.server.hostPort} does not tell its domain; give one with --domain`);
      domain = `${randomLabel()}.${serverDomain}`;
    }
    refuseExisting(ctx.config.https.some((r) => r.domain === domain), `an HTTP rule for ${domain}`);
    await runQuickTunnel(ctx, {
      name: `HTTP rule for ${domain}`,
      address: publicHttpUrl(domain, serverDomain, api.server),
      target: `http://${destination}:${port}`,
      add(config) {
        refuseExisting(config.https.some((r) => r.domain === domain), `an HTTP rule for ${domain}`);
        config.https.push({ ...emptyHttpRule(domain), destination, port });
      },
      remove(config) {
        removeHttpRule(config, domain);
      },
    });
  },
});
