// Turns `tunnel http add` flags into an HttpRule: flag combinations (usage errors, exit
// 2), values (exit 1), the custom certificate pair, and hashing of the passwords.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { checkRuleCertificate, emptyHttpRule, isDestination, isRuleDomain, type HttpRule } from "../../lib/client-config/index.ts";
import { hashBasicAuth, hashPassword } from "../../lib/http/basic-auth.ts";
import { UserError } from "../../lib/errors.ts";
import { destinationArg, firewallFromArgv, optionalPortArg } from "../_client-args.ts";
import { requireValue } from "../_shared.ts";

export interface HttpAddArgs {
  domain?: string;
  destination?: string;
  http?: string;
  tls?: string;
  "https-upstream"?: string;
  webroot?: string;
  redirect?: boolean;
  "rewrite-host"?: string;
  letsencrypt?: boolean;
  ca?: string;
  key?: string;
  password?: string;
  "basic-user"?: string;
  "basic-password"?: string;
  "insecure-upstream"?: boolean;
}

function usage(message: string): never {
  throw new UserError(message, 2);
}

function checkCombinations(a: HttpAddArgs): void {
  const upstreamTls = a["https-upstream"] !== undefined;
  if (a.http === undefined && a.tls === undefined && !upstreamTls && a.webroot === undefined) usage("give at least one of --http, --tls, --https-upstream or --webroot");
  if (a.webroot !== undefined && (a.http !== undefined || a.tls !== undefined || upstreamTls)) usage("--webroot serves files itself; it cannot be combined with --http, --tls or --https-upstream");
  if ((a.ca === undefined) !== (a.key === undefined)) usage("--ca and --key go together (the certificate chain and its private key)");
  if (a.letsencrypt && a.ca !== undefined) usage("give either --letsencrypt or --ca/--key, not both");
  if (a.tls !== undefined && upstreamTls) usage("give either --tls (TLS passed through to the destination) or --https-upstream (TLS re-encrypted to the destination), not both");
  if (a.tls !== undefined && (a.letsencrypt || a.ca !== undefined)) usage("--tls passes TLS through to the destination, which holds the certificate; it cannot be combined with --letsencrypt or --ca/--key (use --https-upstream PORT to re-encrypt)");
  if (a.tls !== undefined && (a.password !== undefined || a["basic-user"] !== undefined)) usage("--tls passes the visitor's TLS through untouched, so no password can be checked on it; use --https-upstream PORT with --password/--basic-user");
  if ((a["basic-user"] === undefined) !== (a["basic-password"] === undefined)) usage("--basic-user and --basic-password go together");
}

function webRootArg(value: string): string {
  const dir = resolve(requireValue(value, "webroot"));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {}
  if (!isDir) throw new UserError(`--webroot ${dir} is not a directory`);
  return dir;
}

function rewriteHostArg(value: string): string {
  const v = requireValue(value, "rewrite-host").toLowerCase();
  const host = v.replace(/:\d{1,5}$/, "");
  if (!isDestination(host)) throw new UserError(`--rewrite-host ${JSON.stringify(v)} is not a valid host name`);
  return v;
}

export async function httpRuleFromArgs(a: HttpAddArgs, rawArgs: string[]): Promise<HttpRule> {
  const domain = requireValue(a.domain, "domain").toLowerCase();
  checkCombinations(a);
  if (!isRuleDomain(domain)) throw new UserError(`--domain ${JSON.stringify(domain)} is not a valid domain name`);

  const rule = emptyHttpRule(domain);
  rule.destination = destinationArg(a.destination, "--destination", "127.0.0.1");
  rule.port = optionalPortArg(a.http, "--http");
  rule.tls = optionalPortArg(a.tls, "--tls");
  rule.httpsUpstream = optionalPortArg(a["https-upstream"], "--https-upstream");
  if (a.webroot !== undefined) rule.webRoot = webRootArg(a.webroot);
  if (a.ca !== undefined && a.key !== undefined) {
    rule.ca = resolve(requireValue(a.ca, "ca"));
    rule.privateKey = resolve(requireValue(a.key, "key"));
    checkRuleCertificate(rule.ca, rule.privateKey, domain);
  }
  rule.useLetsEnc = Boolean(a.letsencrypt);
  if (rule.useLetsEnc && domain.startsWith("*.")) throw new UserError(`--letsencrypt cannot cover ${domain}: Let's Encrypt proves a wildcard only over DNS-01, the client uses HTTP-01; give a wildcard certificate with --ca/--key`);
  rule.secure = rule.useLetsEnc || Boolean(rule.ca) || rule.tls > 0 || rule.httpsUpstream > 0;
  rule.redirect = Boolean(a.redirect);
  if (a["rewrite-host"] !== undefined) rule.rewriteHost = rewriteHostArg(a["rewrite-host"]);
  rule.insecureUpstream = Boolean(a["insecure-upstream"]);
  if (a.password !== undefined) rule.password = await hashPassword(requireValue(a.password, "password"));
  if (a["basic-user"] !== undefined && a["basic-password"] !== undefined) {
    const user = requireValue(a["basic-user"], "basic-user");
    if (user.includes(":")) throw new UserError("--basic-user must not contain a colon (RFC 7617)");
    rule.basicHttpAuth = await hashBasicAuth(user, requireValue(a["basic-password"], "basic-password"));
  }
  rule.firewall = firewallFromArgv(rawArgs);
  return rule;
}
