// Which names may get an on-demand certificate (lib/acme/on-demand.ts): a ClientHello
// names whatever its sender likes, and each order spends the CA's rate limits for the
// server's domain, so only a name an operator's tunnel configured qualifies: under the
// server's domain, an HTTP rule of a connected tunnel, that the server terminates itself
// (a rule with a certificate of its own is passed through to the client, which serves it).
import type { HttpRuleAnnounce } from "../tunnel/messages.ts";

/** Whether `name` is a strict subdomain of `domain` (both lowercased, as the ClientHello reader and config give them). */
export function isUnderDomain(name: string, domain: string): boolean {
  return name.length > domain.length + 1 && name.endsWith(domain) && name.charCodeAt(name.length - domain.length - 1) === 0x2e;
}

export interface OnDemandAdmissionOptions {
  /** The server's own domain (it may change in the dashboard). */
  domain(): string;
  /** The HTTP route of a connected tunnel for a name (the tunnel registry's lookup). */
  route(name: string): { rule: Pick<HttpRuleAnnounce, "ownCertificate"> } | undefined;
}

/** The admission check of the on-demand engine: true only for a server-terminated tunnel name under the domain. */
export function createOnDemandAdmission(opts: OnDemandAdmissionOptions): (name: string) => boolean {
  return (name) => {
    if (!isUnderDomain(name, opts.domain())) return false;
    const route = opts.route(name);
    return route !== undefined && !route.rule.ownCertificate;
  };
}
