import type { HttpRule } from "../../lib/client-config/index.ts";
import { countLine, renderTable } from "../../lib/format/table.ts";
import { splitStoredBasicAuth } from "../../lib/http/basic-auth.ts";
import { rulePassesTlsThrough } from "../../lib/tunnel/client/http-features.ts";

const dash = (v: string | number) => (v ? String(v) : "--");
const yesNo = (v: boolean) => (v ? "yes" : "no");

function auth(r: HttpRule): string {
  const kinds = [r.password && "password", r.basicHttpAuth && `basic (${splitStoredBasicAuth(r.basicHttpAuth)?.user ?? "?"})`].filter(Boolean);
  return kinds.length ? kinds.join(", ") : "--";
}

/** Who holds the certificate visitors see over HTTPS. */
function certificate(r: HttpRule): string {
  if (r.useLetsEnc) return "letsencrypt (client)";
  if (r.ca && r.privateKey) return "custom (client)";
  if (rulePassesTlsThrough(r)) return "destination's (pass-through)";
  return r.secure ? "server's" : "--";
}

const meshAccess = (r: HttpRule) => (r.meshAllow?.length ? r.meshAllow.join(", ") : "any tunnel");

export function httpRulesTable(rules: HttpRule[]): string {
  const rows = rules.map((r) => [
    r.domain,
    r.port || r.tls || r.httpsUpstream ? r.destination : "--",
    dash(r.port),
    dash(r.tls),
    dash(r.httpsUpstream),
    dash(r.webRoot),
    certificate(r),
    yesNo(r.redirect),
    auth(r),
    meshAccess(r),
  ]);
  return `${renderTable(["Domain", "Destination", "HTTP", "TLS pass-through", "HTTPS re-encrypt", "Webroot", "Certificate", "Redirect", "Auth", "Mesh Access"], rows)}\n${countLine(rules.length, "HTTP rule")}`;
}
