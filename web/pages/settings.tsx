/** @jsxImportSource hono/jsx */
// /settings — domain and TLS, tunnel options, proxy settings. A change is validated as
// a whole configuration, saved in the settings table (it overrides the file), merged
// into the running configuration, and handed to the server to take effect (certificate
// swap, SOCKS listeners) — no restart.
import { Hono, type Context } from "hono";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UPLOADED_CERTIFICATE_SETTING, saveSettings } from "../../db/queries/settings.ts";
import { applyServerSettings, mergeServerSettings, tlsModeOf, type ServerSettingsPatch } from "../../lib/config/server-settings.ts";
import { splitAllowListText } from "../../lib/socks/allow-list.ts";
import { certificateNames, checkCertificatePair, loadCertificatePair } from "../../lib/tls/certificates.ts";
import { UserError, errorMessage } from "../../lib/errors.ts";
import type { WebEnv, WebShared } from "../context.ts";
import { SettingsView, settingsValues, type SettingsFormValues } from "../views/account.tsx";
import type { FieldErrors } from "../views/components.tsx";
import { fileOrText, formOf } from "./form.ts";
import { readFileSync } from "node:fs";
import { isHostname } from "../../lib/net/hostname.ts";

const DONE: Record<string, string> = { tls: "Domain and TLS saved and applied.", tunnels: "Tunnel options saved and applied.", proxy: "Proxy settings saved and applied." };

/** Which form field a configuration error is about (`config tunOptions.maxPorts ...`). */
const FIELD_OF: [RegExp, string][] = [
  [/^config domain/, "domain"],
  [/^config tunOptions\.maxPoolSize/, "maxPoolSize"],
  [/^config tunOptions\.maxPorts/, "maxPorts"],
  [/^config monitor\.intervalSeconds/, "intervalSeconds"],
  [/^config socks\.port/, "socksPort"],
  [/^config socks\.tlsPort/, "socksTlsPort"],
  [/^config socks\.allow/, "allow"],
  [/^config listen\./, "socksPort"],
];

export function createSettingsPages(shared: WebShared) {
  const { deps } = shared;
  const app = new Hono<WebEnv>();

  const current = (): SettingsFormValues => {
    const cfg = deps.config();
    const mode = tlsModeOf(cfg);
    let names = "";
    if (mode === "custom") {
      try {
        names = certificateNames(readFileSync(cfg.tls.certificate, "utf8")).join(", ");
      } catch {
        names = "";
      }
    }
    return settingsValues(cfg, mode, names);
  };

  const page = (c: Context<WebEnv>, extra: { values?: SettingsFormValues; ok?: string; error?: string; errors?: FieldErrors } = {}) =>
    c.render(<SettingsView csrf={c.get("csrf")} values={extra.values ?? current()} ok={extra.ok ?? DONE[c.req.query("done") ?? ""]} error={extra.error} errors={extra.errors} />, {
      title: "Settings",
    });

  /** Validate, save, apply; returns field errors (or a general error) instead of throwing. */
  const save = async (c: Context<WebEnv>, patch: ServerSettingsPatch, done: string, values: SettingsFormValues) => {
    try {
      mergeServerSettings(deps.config(), patch);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      const field = FIELD_OF.find(([re]) => re.test(err.message))?.[1];
      c.status(422);
      const message = err.message.replace(/^config /, "");
      return page(c, { values, ...(field ? { errors: { [field]: message } } : { error: message }) });
    }
    const next = mergeServerSettings(deps.config(), patch);
    const sections: Record<string, unknown> = {};
    for (const k of Object.keys(patch) as (keyof ServerSettingsPatch)[]) sections[k] = next[k];
    await saveSettings(deps.db, sections);
    const changed = applyServerSettings(deps.config(), patch);
    try {
      if (changed.length) await deps.settings?.applied(changed, patch);
    } catch (err) {
      return page(c, { error: `Saved, but not applied yet: ${errorMessage(err)}` });
    }
    return c.redirect(`/settings?done=${done}`, 303);
  };

  const int = (v: string | undefined, field: string, errors: FieldErrors): number => {
    const n = Number((v ?? "").trim() || "0");
    if (!Number.isInteger(n)) errors[field] = "Enter a whole number.";
    return n;
  };

  app.get("/", (c) => page(c));

  app.post("/tunnels", async (c) => {
    const form = await formOf(c);
    const errors: FieldErrors = {};
    const values: SettingsFormValues = {
      ...current(),
      autoHostnames: form.autoHostnames === "on",
      monitorEnabled: form.monitorEnabled === "on",
      intervalSeconds: form.intervalSeconds ?? "",
      maxPoolSize: form.maxPoolSize ?? "",
      maxPorts: form.maxPorts ?? "",
    };
    const patch: ServerSettingsPatch = {
      tunOptions: { autoHostnames: values.autoHostnames, maxPoolSize: int(form.maxPoolSize, "maxPoolSize", errors), maxPorts: int(form.maxPorts, "maxPorts", errors) },
      monitor: { enabled: values.monitorEnabled, intervalSeconds: int(form.intervalSeconds, "intervalSeconds", errors) },
    };
    if (Object.keys(errors).length) {
      c.status(422);
      return page(c, { values, errors });
    }
    return save(c, patch, "tunnels", values);
  });

  app.post("/proxy", async (c) => {
    const form = await formOf(c);
    const errors: FieldErrors = {};
    const values: SettingsFormValues = {
      ...current(),
      socksEnabled: form.socksEnabled === "on",
      socksPort: form.socksPort ?? "",
      socksTlsPort: form.socksTlsPort ?? "",
      socksAuth: form.socksAuth === "none" ? "none" : "token",
      allow: form.allow ?? "",
    };
    const patch: ServerSettingsPatch = {
      socks: {
        enabled: values.socksEnabled,
        port: int(form.socksPort, "socksPort", errors),
        tlsPort: int(form.socksTlsPort, "socksTlsPort", errors),
        auth: values.socksAuth,
        allow: splitAllowListText(values.allow),
      },
    };
    if (Object.keys(errors).length) {
      c.status(422);
      return page(c, { values, errors });
    }
    return save(c, patch, "proxy", values);
  });

  app.post("/tls", async (c) => {
    const form = await formOf(c);
    const cfg = deps.config();
    const domain = (form.domain ?? "").trim().toLowerCase();
    const mode = form.tlsMode === "letsencrypt" || form.tlsMode === "custom" ? form.tlsMode : "selfSigned";
    const values: SettingsFormValues = { ...current(), domain, tlsMode: mode };
    const errors: FieldErrors = {};
    let tls: ServerSettingsPatch["tls"];
    if (!isHostname(domain)) {
      c.status(422);
      return page(c, { values, errors: { domain: domain ? `${domain} is not a valid hostname.` : "Domain is required." } });
    }
    if (mode === "letsencrypt") tls = { useLE: true, selfSigned: false, certificate: "", privateKey: "" };
    else if (mode === "selfSigned") tls = { useLE: false, selfSigned: true, certificate: "", privateKey: "" };
    else {
      let certPem = "";
      let keyPem = "";
      try {
        certPem = await fileOrText(c, "certificateFile", "certificate");
        keyPem = await fileOrText(c, "privateKeyFile", "privateKey");
      } catch (err) {
        errors.certificate = errorMessage(err);
      }
      if (!errors.certificate && !certPem && !keyPem && cfg.tls.certificate) {
        // No new upload: the certificate in use must still cover the (maybe new) domain.
        try {
          loadCertificatePair(cfg.tls.certificate, cfg.tls.privateKey, domain || cfg.domain);
          tls = { ...cfg.tls, useLE: false, selfSigned: false };
        } catch (err) {
          errors.certificate = errorMessage(err);
        }
      } else if (!errors.certificate) {
        if (!certPem) errors.certificate = "Upload or paste the certificate (PEM).";
        if (!keyPem) errors.privateKey = "Upload or paste the private key (PEM).";
        if (certPem && keyPem) {
          try {
            const checked = checkCertificatePair(certPem, keyPem, domain || cfg.domain);
            const dir = join(cfg.dataPath, "tls");
            mkdirSync(dir, { recursive: true, mode: 0o700 });
            const certificate = join(dir, "dashboard-certificate.pem");
            const privateKey = join(dir, "dashboard-private-key.pem");
            writeFileSync(certificate, checked.certPem, { mode: 0o644 });
            writeFileSync(privateKey, checked.keyPem, { mode: 0o600 });
            // The files are this node's; the other nodes of a cluster restore them from the database.
            await saveSettings(deps.db, { [UPLOADED_CERTIFICATE_SETTING]: { certificate, privateKey, certPem: checked.certPem, keyPem: checked.keyPem } });
            tls = { useLE: false, selfSigned: false, certificate, privateKey };
          } catch (err) {
            const message = errorMessage(err);
            if (/private key/i.test(message) && !/does not match/.test(message)) errors.privateKey = message;
            else errors.certificate = message;
          }
        }
      }
    }
    if (Object.keys(errors).length || !tls) {
      c.status(422);
      return page(c, { values, errors });
    }
    return save(c, { domain, tls }, "tls", values);
  });
  return app;
}
