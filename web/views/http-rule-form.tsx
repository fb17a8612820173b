/** @jsxImportSource hono/jsx */
// The HTTP rule editor of a tunnel's page: every field of a client HTTP rule (SPEC 3.1).
// Secrets are never shown back: a rule's password, basic auth password and certificate
// stay as they are unless a new one is typed or uploaded, or the "remove" box is ticked.
import type { FirewallRule, HttpRule } from "../../lib/client-config/types.ts";
import { splitStoredBasicAuth } from "../../lib/http/basic-auth.ts";
import { Check, Csrf, Field, type FieldErrors } from "./components.tsx";

export interface FirewallRow {
  sequence: string;
  action: "allow" | "drop";
  network: string;
}

/** The form's inputs as strings and booleans (what was submitted, or the rule being edited). */
export interface HttpRuleFormValues {
  domain: string;
  destination: string;
  port: string;
  tls: string;
  httpsUpstream: string;
  webRoot: string;
  rewriteHost: string;
  redirectURL: string;
  secure: boolean;
  redirect: boolean;
  insecureUpstream: boolean;
  useLetsEnc: boolean;
  basicUser: string;
  /** The rule already has a site password / basic auth / certificate (edit). */
  hasPassword: boolean;
  hasBasicAuth: boolean;
  /** The certificate path on the client ("" when none). */
  certificate: string;
  firewall: FirewallRow[];
}

export interface HttpRuleFormState {
  values: HttpRuleFormValues;
  errors: FieldErrors;
  editing: boolean;
}

/** Blank firewall rows offered below the rule's entries (more after each save). */
const SPARE_FIREWALL_ROWS = 2;

export function firewallRows(rules: readonly FirewallRule[]): FirewallRow[] {
  const rows = rules.map((r) => ({ sequence: String(r.sequence), action: r.action, network: r.network }));
  const spare = Math.max(SPARE_FIREWALL_ROWS, 3 - rows.length);
  for (let i = 0; i < spare; i++) rows.push({ sequence: "", action: "allow", network: "" });
  return rows;
}

const show = (n: number) => (n ? String(n) : "");

export function httpRuleFormValues(rule?: HttpRule): HttpRuleFormValues {
  return {
    domain: rule?.domain ?? "",
    destination: rule?.destination || "127.0.0.1",
    port: show(rule?.port ?? 0),
    tls: show(rule?.tls ?? 0),
    httpsUpstream: show(rule?.httpsUpstream ?? 0),
    webRoot: rule?.webRoot ?? "",
    rewriteHost: rule?.rewriteHost ?? "",
    redirectURL: rule?.redirectURL ?? "",
    secure: rule ? rule.secure : true,
    redirect: rule?.redirect ?? false,
    insecureUpstream: rule?.insecureUpstream ?? false,
    useLetsEnc: rule?.useLetsEnc ?? false,
    basicUser: rule?.basicHttpAuth ? (splitStoredBasicAuth(rule.basicHttpAuth)?.user ?? "") : "",
    hasPassword: Boolean(rule?.password),
    hasBasicAuth: Boolean(rule?.basicHttpAuth),
    certificate: rule?.ca ?? "",
    firewall: firewallRows(rule?.firewall ?? []),
  };
}

function FieldError(p: { errors: FieldErrors; name: string }) {
  const e = p.errors[p.name];
  return e ? (
    <span class="field-error" id={`f-${p.name}-error`}>
      {e}
    </span>
  ) : null;
}

export function HttpRuleForm(p: { csrf: string; action: string; cancel: string; state?: HttpRuleFormState }) {
  const editing = p.state?.editing ?? false;
  const v = p.state?.values ?? httpRuleFormValues();
  const e = p.state?.errors ?? {};
  return (
    <div class="panel" id="http-form">
      <h2>{editing ? `Edit ${v.domain}` : "Add an HTTP rule"}</h2>
      {e.rule && (
        <p class="flash error" role="alert">
          {e.rule}
        </p>
      )}
      <form class="stack" method="post" action={p.action} enctype="multipart/form-data">
        <Csrf token={p.csrf} />
        <fieldset class="stack">
          <legend>Site</legend>
          <div class="row">
            {editing ? (
              <>
                <input type="hidden" name="domain" value={v.domain} />
                <input type="hidden" name="editing" value="1" />
              </>
            ) : (
              <Field label="Domain" name="domain" value={v.domain} errors={e} required placeholder="app.example.com" />
            )}
            <Field label="Destination" name="destination" value={v.destination} errors={e} hint="host the client forwards to" />
            <Field label="HTTP port" name="port" type="number" min={0} max={65535} value={v.port} errors={e} />
            <Field label="TLS port (pass-through)" name="tls" type="number" min={0} max={65535} value={v.tls} errors={e} hint="TLS passed through untouched: visitors see the destination's certificate" />
            <Field label="HTTPS upstream port (re-encrypted)" name="httpsUpstream" type="number" min={0} max={65535} value={v.httpsUpstream} errors={e} hint="TLS ends at the server; the client re-encrypts to the destination" />
            <Field label="Web root" name="webRoot" value={v.webRoot} errors={e} hint="serve files from this directory on the client" />
            <Field label="Rewrite Host header" name="rewriteHost" value={v.rewriteHost} errors={e} placeholder="internal.lan:8080" />
            <Field label="Redirect visitors to" name="redirectURL" value={v.redirectURL} errors={e} placeholder="https://example.com/" />
          </div>
          <Check label="Serve over HTTPS" name="secure" checked={v.secure} />
          <Check label="Redirect HTTP to HTTPS" name="redirect" checked={v.redirect} />
          <Check label="Do not verify the destination's TLS certificate" name="insecureUpstream" checked={v.insecureUpstream} />
        </fieldset>

        <fieldset class="stack">
          <legend>Access</legend>
          <div class="row">
            <Field
              label="Site password"
              name="password"
              type="password"
              errors={e}
              autocomplete="new-password"
              hint={v.hasPassword ? "set; leave empty to keep" : "a login page in front of the site"}
            />
            <Field label="Basic auth user" name="basicUser" value={v.basicUser} errors={e} autocomplete="off" />
            <Field
              label="Basic auth password"
              name="basicPassword"
              type="password"
              errors={e}
              autocomplete="new-password"
              hint={v.hasBasicAuth ? "set; leave empty to keep" : "checked on every request"}
            />
          </div>
          {v.hasPassword && <Check label="Remove the site password" name="clearPassword" />}
          {v.hasBasicAuth && <Check label="Remove basic auth" name="clearBasicAuth" />}
          <p class="hint">Passwords are sent to the client as salted hashes; the plain text is never stored.</p>
        </fieldset>

        <fieldset class="stack" id="firewall">
          <legend>Firewall</legend>
          <p class="hint">
            Checked by the server against the visitor's address, in sequence order; the first entry whose network contains it decides. Visitors no entry matches are allowed: end with a
            drop of 0.0.0.0/0 and ::/0 to admit only the networks allowed above it.
          </p>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th>Sequence</th>
                  <th>Action</th>
                  <th>Network (address or CIDR)</th>
                </tr>
              </thead>
              <tbody>
                {v.firewall.map((row, i) => (
                  <tr>
                    <td>
                      <input type="number" name={`firewall.${i}.sequence`} value={row.sequence} min={1} aria-label={`Firewall entry ${i + 1} sequence`} placeholder={String(i + 1)} />
                    </td>
                    <td>
                      <select name={`firewall.${i}.action`} aria-label={`Firewall entry ${i + 1} action`}>
                        <option value="allow" selected={row.action === "allow"}>
                          allow
                        </option>
                        <option value="drop" selected={row.action === "drop"}>
                          drop
                        </option>
                      </select>
                    </td>
                    <td>
                      <input type="text" name={`firewall.${i}.network`} value={row.network} aria-label={`Firewall entry ${i + 1} network`} placeholder="10.0.0.0/8" />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <input type="hidden" name="firewallRows" value={String(v.firewall.length)} />
          <FieldError errors={e} name="firewall" />
          <p class="hint">Empty a row's network to delete the entry.</p>
        </fieldset>

        <fieldset class="stack" id="certificate">
          <legend>Certificate</legend>
          <p class="hint">
            Without one of these, HTTPS visitors get the server's certificate. With one, the server passes TLS through and the client terminates it with its own certificate.
          </p>
          <Check label="Let's Encrypt certificate, obtained by the client" name="useLetsEnc" checked={v.useLetsEnc} />
          <FieldError errors={e} name="useLetsEnc" />
          {v.certificate && (
            <p>
              Custom certificate on the client: <code>{v.certificate}</code>
            </p>
          )}
          <div class="row">
            <label>
              Custom certificate (PEM, full chain)
              <input type="file" name="certificateFile" accept=".pem,.crt,.cer" />
              <textarea name="certificate" placeholder="-----BEGIN CERTIFICATE-----" aria-label="Custom certificate PEM" aria-invalid={e.certificate ? "true" : undefined}></textarea>
              <FieldError errors={e} name="certificate" />
            </label>
            <label>
              Its private key (PEM)
              <input type="file" name="privateKeyFile" accept=".pem,.key" />
              <textarea name="privateKey" placeholder="-----BEGIN PRIVATE KEY-----" aria-label="Private key PEM" aria-invalid={e.privateKey ? "true" : undefined}></textarea>
              <FieldError errors={e} name="privateKey" />
            </label>
          </div>
          {v.certificate && <Check label="Remove the custom certificate" name="clearCertificate" />}
        </fieldset>

        <div class="actions">
          <button type="submit">{editing ? "Save rule" : "Add rule"}</button>
          {editing && <a href={p.cancel}>Cancel</a>}
        </div>
      </form>
    </div>
  );
}
