/** @jsxImportSource hono/jsx */
// Registration tokens and admin API keys.
import type { AdminApiKeyInfo } from "../../db/queries/admin-api-keys.ts";
import type { RegistrationToken } from "../../db/queries/registration-tokens.ts";
import { formatDate } from "../../lib/format/units.ts";
import { ActionForm, Check, Csrf, Field, Flash, Table, YesNo, type FieldErrors } from "./components.tsx";

export function TokensView(p: { csrf: string; tokens: RegistrationToken[]; ok?: string; error?: string; errors?: FieldErrors; created?: RegistrationToken }) {
  return (
    <>
      <h1>Registration tokens</h1>
      <p class="muted">
        A client registers with one of these (<code>pktriot unmanaged configure --registration TOKEN</code>) and receives its own auth token. Inactive
        tokens are refused.
      </p>
      <Flash ok={p.ok} error={p.error} />
      {p.created && (
        <div class="panel" id="created-token">
          <p>New registration token:</p>
          <p class="secret">{p.created.value}</p>
        </div>
      )}
      <div class="panel">
        <form class="stack" method="post" action="/tokens">
          <Csrf token={p.csrf} />
          <div class="row">
            <Field label="Description" name="description" errors={p.errors} placeholder="e.g. Warehouse sensors" />
          </div>
          <Check label="Active" name="active" checked />
          <div>
            <button type="submit">Create token</button>
          </div>
        </form>
      </div>
      <Table
        head={["Created", "Description", "Value", "Active", ""]}
        empty="No registration tokens yet. Create one above."
        rows={p.tokens.map((t) => (
          <tr id={`token-${t.id}`}>
            <td>{formatDate(t.created)}</td>
            <td class="wrap">
              <details class="edit">
                <summary>{t.description || <span class="muted">(none)</span>}</summary>
                <ActionForm csrf={p.csrf} action={`/tokens/${t.id}/description`} label="Save">
                  <input type="text" name="description" value={t.description} aria-label="Description" />
                </ActionForm>
              </details>
            </td>
            <td class="mono">{t.value}</td>
            <td>
              <YesNo value={t.active} />
            </td>
            <td>
              <form class="inline" method="post" action={`/tokens/${t.id}/active`}>
                <Csrf token={p.csrf} />
                <input type="hidden" name="active" value={t.active ? "off" : "on"} />
                <button class="small secondary" type="submit">
                  {t.active ? "Deactivate" : "Activate"}
                </button>
              </form>
            </td>
          </tr>
        ))}
      />
    </>
  );
}

export function ApiKeysView(p: { csrf: string; keys: AdminApiKeyInfo[]; created?: { value: string; description: string }; ok?: string; error?: string }) {
  return (
    <>
      <h1>API keys</h1>
      <p class="muted">
        Keys for the Admin JSON API (<code>POST /api/admin/v1.0/auth</code> with <code>{'{"key": "..."}'}</code>, or{" "}
        <code>Authorization: Bearer KEY</code>).
      </p>
      <Flash ok={p.ok} error={p.error} />
      {p.created && (
        <div class="panel" id="created-key">
          <p>
            <strong>Copy this key now.</strong> It is not stored and cannot be shown again.
          </p>
          <p class="secret">{p.created.value}</p>
        </div>
      )}
      <div class="panel">
        <form class="stack" method="post" action="/api-keys">
          <Csrf token={p.csrf} />
          <div class="row">
            <Field label="Description" name="description" placeholder="e.g. provisioning script" />
          </div>
          <div>
            <button type="submit">Create API key</button>
          </div>
        </form>
      </div>
      <Table
        head={["Created", "Description", "Key", "Last used", "Active", ""]}
        empty="No API keys yet."
        rows={p.keys.map((k) => (
          <tr>
            <td>{formatDate(k.created)}</td>
            <td class="wrap">{k.description || <span class="muted">(none)</span>}</td>
            <td class="mono">{k.prefix}…</td>
            <td>{formatDate(k.lastUsed)}</td>
            <td>
              <YesNo value={k.active} no="Revoked" />
            </td>
            <td>
              {k.active && (
                <form class="inline" method="post" action={`/api-keys/${k.id}/revoke`}>
                  <Csrf token={p.csrf} />
                  <button class="small danger" type="submit" data-confirm="Revoke this API key? Scripts using it stop working.">
                    Revoke
                  </button>
                </form>
              )}
            </td>
          </tr>
        ))}
      />
    </>
  );
}
