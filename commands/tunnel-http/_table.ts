import type { HttpRule } from "../../lib/client-config/index.ts";
import { countLine, renderTable } from "../../lib/format/table.ts";
import { splitStoredBasicAuth } from "../../lib/http/basic-auth.ts";

const dash = (v: string | number) => (v ? String(v) : "--");
const yesNo = (v: boolean) => (v ? "yes" : "no");

function auth(r: HttpRule): string {
  const kinds = [r.password && "password", r.basicHttpAuth && `basic (${splitStoredBasicAuth(r.basicHttpAuth)?.user ?? "?"})`].filter(Boolean);
  return kinds.length ? kinds.join(", ") : "--";
}

export function httpRulesTable(rules: HttpRule[]): string {
  const rows = rules.map((r) => [r.domain, r.port || r.tls ? r.destination : "--", dash(r.port), dash(r.tls), dash(r.webRoot), yesNo(r.secure), yesNo(r.redirect), auth(r)]);
  return `${renderTable(["Domain", "Destination", "HTTP", "TLS", "Webroot", "Secure", "Redirect", "Auth"], rows)}\n${countLine(rules.length, "HTTP rule")}`;
}
