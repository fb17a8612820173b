import { defineCommand } from "citty";
import { upsertHttpRule } from "../../lib/client-config/index.ts";
import { firewallArgs, meshAllowArgs, meshAllowFromArgv } from "../_client-args.ts";
import { editClientConfig, openClientConfig } from "../_client-context.ts";
import { configArgs } from "../_shared.ts";
import { httpRuleFromArgs } from "./_rule-from-args.ts";

export default defineCommand({
  meta: { name: "add", description: "Add (or replace) the HTTP rule for a domain" },
  args: {
    ...configArgs,
    domain: { type: "string", description: "Domain the rule serves", valueHint: "DOMAIN" },
    destination: { type: "string", description: "Host to forward to (default 127.0.0.1)", valueHint: "HOST" },
    http: { type: "string", description: "Destination port for HTTP", valueHint: "PORT" },
    tls: { type: "string", description: "Destination TLS port, passed through untouched: visitors see the destination's own certificate", valueHint: "PORT" },
    "https-upstream": { type: "string", description: "Destination HTTPS port, re-encrypted: TLS ends at the server (or here with --letsencrypt/--ca)", valueHint: "PORT" },
    webroot: { type: "string", description: "Serve static files from this directory", valueHint: "DIR" },
    redirect: { type: "boolean", description: "Redirect HTTP to HTTPS" },
    "rewrite-host": { type: "string", description: "Host header sent to the destination", valueHint: "HOST" },
    letsencrypt: { type: "boolean", description: "This client gets and renews a Let's Encrypt certificate for the domain (HTTP-01 through the tunnel)" },
    ca: { type: "string", description: "Certificate chain PEM for the domain (with --key)", valueHint: "FILE" },
    key: { type: "string", description: "Private key PEM for the domain (with --ca)", valueHint: "FILE" },
    password: { type: "string", description: "Protect the site with a login page (stored hashed)", valueHint: "PASSWORD" },
    "basic-user": { type: "string", description: "HTTP basic auth user (with --basic-password)", valueHint: "USER" },
    "basic-password": { type: "string", description: "HTTP basic auth password (stored hashed)", valueHint: "PASSWORD" },
    "insecure-upstream": { type: "boolean", description: "Do not verify the destination's certificate when re-encrypting to it" },
    ...firewallArgs,
    ...meshAllowArgs,
  },
  async run({ args, rawArgs }) {
    // Check the file exists before hashing passwords (slow on purpose).
    openClientConfig(args);
    const meshAllow = meshAllowFromArgv(rawArgs);
    const rule = await httpRuleFromArgs(args, rawArgs);
    // Without --mesh-allow a replaced rule keeps its list (upsertHttpRule); `any` clears it.
    if (meshAllow !== undefined) rule.meshAllow = meshAllow;
    const { result: replaced } = await editClientConfig(args, (c) => upsertHttpRule(c, rule));
    console.log(`${replaced ? "Updated" : "Added"} HTTP rule for ${rule.domain}`);
  },
});
