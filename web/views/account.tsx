/** @jsxImportSource hono/jsx */
// Account (full name, password) and server settings.
import type { ServerConfig } from "../../lib/config/server-config.ts";
import { Check, Csrf, Field, Flash, type FieldErrors } from "./components.tsx";

export function AccountView(p: { csrf: string; email: string; fullName: string; twoFactor: string; ok?: string; errors?: FieldErrors }) {
  return (
    <>
      <h1>Account</h1>
      <Flash ok={p.ok} />
      <div class="panel">
        <p>
          Signed in as <strong>{p.email}</strong>. Two-factor authentication: {p.twoFactor}. (Admin users and their 2FA are managed with{" "}
          <code>spokes users</code>.)
        </p>
        <form class="stack" method="post" action="/account/name">
          <Csrf token={p.csrf} />
          <Field label="Full name" name="fullName" value={p.fullName} errors={p.errors} autocomplete="name" />
          <div>
            <button type="submit">Save name</button>
          </div>
        </form>
      </div>
      <div class="panel">
        <h2>Change password</h2>
        <form class="stack" method="post" action="/account/password">
          <Csrf token={p.csrf} />
          <Field label="Current password" name="current" type="password" errors={p.errors} autocomplete="current-password" required />
          <Field label="New password" name="password" type="password" errors={p.errors} autocomplete="new-password" required hint="At least 8 characters." />
          <Field label="Confirm new password" name="confirm" type="password" errors={p.errors} autocomplete="new-password" required />
          <div>
            <button type="submit">Change password</button>
          </div>
          <p class="hint">You will be logged out everywhere and asked to log in again.</p>
        </form>
      </div>
    </>
  );
}

export interface SettingsFormValues {
  domain: string;
  tlsMode: "letsencrypt" | "selfSigned" | "custom";
  certificateNames: string;
  autoHostnames: boolean;
  monitorEnabled: boolean;
  intervalSeconds: string | number;
  maxPoolSize: string | number;
  maxPorts: string | number;
  socksEnabled: boolean;
  socksPort: string | number;
  socksTlsPort: string | number;
  socksAuth: "token" | "none";
  allow: string;
}

export function settingsValues(cfg: ServerConfig, tlsMode: SettingsFormValues["tlsMode"], certificateNames = ""): SettingsFormValues {
  return {
    domain: cfg.domain,
    tlsMode,
    certificateNames,
    autoHostnames: cfg.tunOptions.autoHostnames,
    monitorEnabled: cfg.monitor.enabled,
    intervalSeconds: cfg.monitor.intervalSeconds,
    maxPoolSize: cfg.tunOptions.maxPoolSize,
    maxPorts: cfg.tunOptions.maxPorts,
    socksEnabled: cfg.socks.enabled,
    socksPort: cfg.socks.port,
    socksTlsPort: cfg.socks.tlsPort,
    socksAuth: cfg.socks.auth,
    allow: cfg.socks.allow.join(", "),
  };
}

export function SettingsView(p: { csrf: string; values: SettingsFormValues; ok?: string; error?: string; errors?: FieldErrors; section?: string }) {
  const v = p.values;
  const e = p.errors ?? {};
  return (
    <>
      <h1>Settings</h1>
      <p class="muted">Changes apply at once and are kept in the database; they override the configuration file.</p>
      <Flash ok={p.ok} error={p.error} />

      <div class="panel" id="tls">
        <h2>Domain and TLS</h2>
        <form class="stack" method="post" action="/settings/tls" enctype="multipart/form-data">
          <Csrf token={p.csrf} />
          <Field label="Server domain" name="domain" value={v.domain} errors={e} required />
          <fieldset class="stack">
            <legend>Certificate</legend>
            <label class="check">
              <input type="radio" name="tlsMode" value="letsencrypt" checked={v.tlsMode === "letsencrypt"} /> Let's Encrypt
            </label>
            <label class="check">
              <input type="radio" name="tlsMode" value="selfSigned" checked={v.tlsMode === "selfSigned"} /> Self-signed (for the domain and its wildcard)
            </label>
            <label class="check">
              <input type="radio" name="tlsMode" value="custom" checked={v.tlsMode === "custom"} /> Upload a certificate and key
            </label>
          </fieldset>
          {v.certificateNames && <p class="hint">Current certificate covers: {v.certificateNames}</p>}
          <div class="row">
            <label>
              Certificate (PEM, full chain)
              <input type="file" name="certificateFile" accept=".pem,.crt,.cer" />
              <textarea name="certificate" placeholder="-----BEGIN CERTIFICATE-----" aria-invalid={e.certificate ? "true" : undefined}></textarea>
              {e.certificate && <span class="field-error">{e.certificate}</span>}
            </label>
            <label>
              Private key (PEM)
              <input type="file" name="privateKeyFile" accept=".pem,.key" />
              <textarea name="privateKey" placeholder="-----BEGIN PRIVATE KEY-----" aria-invalid={e.privateKey ? "true" : undefined}></textarea>
              {e.privateKey && <span class="field-error">{e.privateKey}</span>}
            </label>
          </div>
          <div>
            <button type="submit">Save domain and TLS</button>
          </div>
        </form>
      </div>

      <div class="panel" id="tunnels">
        <h2>Tunnel options</h2>
        <form class="stack" method="post" action="/settings/tunnels">
          <Csrf token={p.csrf} />
          <Check label="Assign a hostname (random.domain) to tunnels that register without one" name="autoHostnames" checked={v.autoHostnames} />
          <Check label="Monitor upstream services" name="monitorEnabled" checked={v.monitorEnabled} />
          <div class="row">
            <Field label="Monitor interval (seconds)" name="intervalSeconds" type="number" min={5} max={86400} value={v.intervalSeconds} errors={e} />
            <Field label="Max pool size" name="maxPoolSize" type="number" min={1} max={64} value={v.maxPoolSize} errors={e} hint="data connections per tunnel" />
            <Field label="Max ports" name="maxPorts" type="number" min={0} max={65535} value={v.maxPorts} errors={e} hint="per tunnel" />
          </div>
          <div>
            <button type="submit">Save tunnel options</button>
          </div>
        </form>
      </div>

      <div class="panel" id="proxy">
        <h2>Proxy (SOCKS5)</h2>
        <form class="stack" method="post" action="/settings/proxy">
          <Csrf token={p.csrf} />
          <Check label="Enable the SOCKS server" name="socksEnabled" checked={v.socksEnabled} />
          <div class="row">
            <Field label="Plain port" name="socksPort" type="number" min={0} max={65535} value={v.socksPort} errors={e} hint="0 = not listening" />
            <Field label="TLS port" name="socksTlsPort" type="number" min={0} max={65535} value={v.socksTlsPort} errors={e} hint="0 = not listening" />
            <label>
              Authentication
              <select name="socksAuth">
                <option value="token" selected={v.socksAuth === "token"}>
                  Auth token as password
                </option>
                <option value="none" selected={v.socksAuth === "none"}>
                  None
                </option>
              </select>
            </label>
          </div>
          <Field label="Allow-list" name="allow" value={v.allow} errors={e} hint="comma separated: 10.0.0.0/8, internal.example.com, *.srv.local" />
          <div>
            <button type="submit">Save proxy settings</button>
          </div>
        </form>
      </div>
    </>
  );
}
