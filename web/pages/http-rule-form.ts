// Reads the HTTP rule editor's post into an HttpRule: the fields the form did not change
// keep the rule's current values (hashed passwords, certificate paths on the client), the
// values are checked with the client's own configuration validator, and every problem
// comes back as a message next to its field rather than a failed request.
import type { Context } from "hono";
import { checkRuleCertificatePem } from "../../lib/client-config/rule-certificate.ts";
import { emptyHttpRule, type FirewallRule, type HttpRule } from "../../lib/client-config/types.ts";
import { validateClientConfig } from "../../lib/client-config/validate.ts";
import { UserError, errorMessage } from "../../lib/errors.ts";
import { hashBasicAuth, hashPassword, splitStoredBasicAuth } from "../../lib/http/basic-auth.ts";
import type { FieldErrors } from "../views/components.tsx";
import { httpRuleFormValues, type FirewallRow, type HttpRuleFormState, type HttpRuleFormValues } from "../views/http-rule-form.tsx";
import { fileOrText, formOf } from "./form.ts";

/** At most this many firewall rows are read from one post. */
const MAX_FIREWALL_ROWS = 256;

function firewallRowsOf(form: Record<string, string>): FirewallRow[] {
  const count = Math.min(MAX_FIREWALL_ROWS, Math.max(0, Number.parseInt(form.firewallRows ?? "0", 10) || 0));
  const rows: FirewallRow[] = [];
  for (let i = 0; i < count; i++) {
    rows.push({
      sequence: (form[`firewall.${i}.sequence`] ?? "").trim(),
      action: form[`firewall.${i}.action`] === "drop" ? "drop" : "allow",
      network: (form[`firewall.${i}.network`] ?? "").trim(),
    });
  }
  return rows;
}

const FIELD_LABELS: Record<string, string> = {
  domain: "Domain",
  destination: "Destination",
  port: "HTTP port",
  tls: "TLS port",
  httpsUpstream: "HTTPS upstream port",
  webRoot: "Web root",
  rewriteHost: "Rewrite Host header",
  redirectURL: "Redirect URL",
};

/**
 * A validator message (`config https[0].firewall[1].network ("x") must be ...`) as the
 * field it belongs to and a sentence that names the form's entry (`Firewall entry 2: ...`).
 */
function fieldOfValidatorError(message: string, firewallRowOf: number[]): [string, string] {
  const fw = /^config https\[0\]\.firewall\[(\d+)\]\.(\w+) (.*)$/.exec(message);
  if (fw) return ["firewall", `Firewall entry ${(firewallRowOf[Number(fw[1])] ?? Number(fw[1])) + 1}: ${fw[2]} ${fw[3]}`];
  const field = /^config https\[0\]\.(\w+) (.*)$/.exec(message);
  if (field && FIELD_LABELS[field[1]!]) return [field[1]!, `${FIELD_LABELS[field[1]!]} ${field[2]}`];
  return ["rule", message.replace(/^config https\[0\]\.?/, "")];
}

function portField(raw: string, field: string, errors: FieldErrors): number {
  if (!raw) return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    errors[field] = "Enter a port between 1 and 65535.";
    return 0;
  }
  return n;
}

/**
 * The rule the form describes, or the errors that keep it from being sent. `existing` is
 * the rule as the client has it now (undefined for a new rule).
 */
export async function readHttpRuleForm(c: Context, existing: HttpRule | undefined): Promise<{ rule?: HttpRule; state: HttpRuleFormState }> {
  const form = await formOf(c);
  const editing = form.editing === "1";
  const domain = (form.domain ?? "").trim().toLowerCase();
  const errors: FieldErrors = {};
  const firewall = firewallRowsOf(form);
  const base = existing ?? emptyHttpRule(domain);
  const values: HttpRuleFormValues = {
    ...httpRuleFormValues(existing),
    domain,
    destination: (form.destination ?? "").trim(),
    port: (form.port ?? "").trim(),
    tls: (form.tls ?? "").trim(),
    httpsUpstream: (form.httpsUpstream ?? "").trim(),
    webRoot: (form.webRoot ?? "").trim(),
    rewriteHost: (form.rewriteHost ?? "").trim(),
    redirectURL: (form.redirectURL ?? "").trim(),
    secure: form.secure === "on",
    redirect: form.redirect === "on",
    insecureUpstream: form.insecureUpstream === "on",
    useLetsEnc: form.useLetsEnc === "on",
    basicUser: (form.basicUser ?? "").trim(),
    firewall: firewall.some((r) => !r.network) ? firewall : [...firewall, { sequence: "", action: "allow", network: "" }],
  };
  const state: HttpRuleFormState = { values, errors, editing };

  if (!domain) errors.domain = "Domain is required.";
  else if (!editing && existing) errors.domain = `${domain} already has a rule: edit it instead.`;
  else if (editing && !existing) errors.rule = `The client has no rule for ${domain} any more: reload the page.`;

  // Entries in sequence order; a row without a sequence takes its position in the table.
  const used = firewall.map((r, row) => ({ ...r, row })).filter((r) => r.network);
  const badSequence = used.find((r) => r.sequence && !/^\d{1,7}$/.test(r.sequence));
  if (badSequence) errors.firewall = `Firewall entry ${badSequence.row + 1}: sequence (${JSON.stringify(badSequence.sequence)}) must be a whole number from 1`;
  const firewallRowOf = used.map((r) => r.row);
  const entries = used.map((r) => ({ sequence: r.sequence ? Number(r.sequence) : r.row + 1, action: r.action, network: r.network }) as FirewallRule);

  const rule: HttpRule = {
    ...base,
    domain,
    destination: values.destination || "127.0.0.1",
    port: portField(values.port, "port", errors),
    tls: portField(values.tls, "tls", errors),
    httpsUpstream: portField(values.httpsUpstream, "httpsUpstream", errors),
    webRoot: values.webRoot,
    rewriteHost: values.rewriteHost,
    redirectURL: values.redirectURL,
    redirect: values.redirect,
    insecureUpstream: values.insecureUpstream,
    useLetsEnc: values.useLetsEnc,
    // A post without the firewall table (a script, an older page) leaves the entries alone.
    firewall: form.firewallRows === undefined ? base.firewall : entries,
  };

  // Site password: kept unless a new one is typed or removal is asked for.
  if (form.clearPassword === "on") {
    if (form.password) errors.password = "Either type a new password or remove it, not both.";
    rule.password = "";
  } else if (form.password) {
    rule.password = await hashPassword(form.password);
  }

  // Basic auth: the stored value is `user:<hash>`, so a new user name needs its password.
  const currentUser = base.basicHttpAuth ? splitStoredBasicAuth(base.basicHttpAuth)?.user : undefined;
  const basicPassword = form.basicPassword ?? "";
  if (form.clearBasicAuth === "on") {
    if (basicPassword) errors.basicPassword = "Either type a new password or remove basic auth, not both.";
    rule.basicHttpAuth = "";
  } else if (basicPassword) {
    if (!values.basicUser) errors.basicUser = "Give the user name that goes with the password.";
    else {
      try {
        rule.basicHttpAuth = await hashBasicAuth(values.basicUser, basicPassword);
      } catch (err) {
        errors.basicUser = errorMessage(err);
      }
    }
  } else if (values.basicUser !== (currentUser ?? "")) {
    errors.basicPassword = currentUser
      ? values.basicUser
        ? "Type the password for the new user name."
        : 'To turn basic auth off, tick "Remove basic auth".'
      : "Type a password for the basic auth user.";
  }

  // Certificate: an upload (or pasted PEM) replaces the current one; the box removes it.
  let certPem = "";
  let keyPem = "";
  try {
    certPem = await fileOrText(c, "certificateFile", "certificate");
  } catch (err) {
    errors.certificate = errorMessage(err);
  }
  try {
    keyPem = await fileOrText(c, "privateKeyFile", "privateKey");
  } catch (err) {
    errors.privateKey = errorMessage(err);
  }
  if (form.clearCertificate === "on") {
    rule.ca = "";
    rule.privateKey = "";
  }
  if (certPem || keyPem) {
    if (!certPem) errors.certificate = "Upload or paste the certificate that goes with the private key.";
    else if (!keyPem) errors.privateKey = "Upload or paste the private key of the certificate.";
    else if (domain) {
      try {
        const checked = checkRuleCertificatePem(certPem, keyPem, domain);
        rule.ca = checked.certPem;
        rule.privateKey = checked.keyPem;
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        const message = err.message.charAt(0).toUpperCase() + err.message.slice(1);
        errors[/^private key/.test(err.message) ? "privateKey" : "certificate"] = message;
      }
    }
  }
  rule.secure = values.secure || rule.useLetsEnc || Boolean(rule.ca);

  // Combinations `pktriot tunnel http add` refuses too.
  if (rule.useLetsEnc && rule.ca) errors.useLetsEnc = "Choose Let's Encrypt or a custom certificate, not both.";
  if (rule.webRoot && (rule.port || rule.tls || rule.httpsUpstream)) errors.webRoot = "A web root serves files itself: leave the HTTP, TLS and HTTPS upstream ports empty.";
  if (rule.tls && (rule.useLetsEnc || rule.ca)) errors.tls = "A TLS port passes TLS through to the destination, which holds the certificate: it cannot be combined with Let's Encrypt or a custom certificate.";
  if (!errors.port && !errors.tls && !errors.httpsUpstream && !rule.port && !rule.tls && !rule.httpsUpstream && !rule.webRoot && !rule.redirectURL) errors.rule = "Give an HTTP port, a TLS port, an HTTPS upstream port, a web root or a redirect URL.";

  // The client's own validator, so the dashboard accepts exactly what the client file does.
  if (domain) {
    try {
      validateClientConfig({ https: [rule] });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      const [field, message] = fieldOfValidatorError(err.message, firewallRowOf);
      errors[field] ??= message;
    }
  }
  return Object.keys(errors).length ? { state } : { rule, state };
}

/** An error from the remote change (server checks, the client's answer) next to its field. */
export function httpRuleFormError(state: HttpRuleFormState, error: string): HttpRuleFormState {
  const field = /^sites\[0\]\.ca\b/.test(error)
    ? "certificate"
    : /^sites\[0\]\.privateKey\b/.test(error)
      ? "privateKey"
      : /domain/.test(error) && !state.editing
        ? "domain"
        : "rule";
  return { ...state, errors: { ...state.errors, [field]: error } };
}
