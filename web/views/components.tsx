/** @jsxImportSource hono/jsx */
// Small pure building blocks shared by the pages.
import type { Child } from "hono/jsx";

export function Flash(props: { ok?: string; error?: string }) {
  return (
    <>
      {props.ok && (
        <div class="flash ok" role="status">
          {props.ok}
        </div>
      )}
      {props.error && (
        <div class="flash error" role="alert">
          {props.error}
        </div>
      )}
    </>
  );
}

export function Csrf(props: { token: string }) {
  return <input type="hidden" name="_csrf" value={props.token} />;
}

/** A one-button POST form with the CSRF token, inline in a row of actions; `confirm` asks first. */
export function ActionForm(props: { csrf: string; action: string; label: string; class?: string; confirm?: string; children?: Child }) {
  return (
    <form class="inline" method="post" action={props.action}>
      <Csrf token={props.csrf} />
      {props.children}
      <button class={props.class ? `small ${props.class}` : "small"} type="submit" data-confirm={props.confirm}>
        {props.label}
      </button>
    </form>
  );
}

export type FieldErrors = Record<string, string | undefined>;

/** A labelled input with its error message right under it. */
export function Field(props: {
  label: string;
  name: string;
  type?: string;
  value?: string | number;
  errors?: FieldErrors;
  hint?: string;
  required?: boolean;
  autocomplete?: string;
  placeholder?: string;
  inputmode?: string;
  min?: number;
  max?: number;
  autofocus?: boolean;
}) {
  const error = props.errors?.[props.name];
  const id = `f-${props.name}`;
  return (
    <label for={id}>
      {props.label}
      {props.hint && <span class="hint">{props.hint}</span>}
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value === undefined ? undefined : String(props.value)}
        required={props.required}
        autocomplete={props.autocomplete}
        placeholder={props.placeholder}
        inputmode={props.inputmode as "numeric" | undefined}
        min={props.min}
        max={props.max}
        autofocus={props.autofocus}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      {error && (
        <span class="field-error" id={`${id}-error`}>
          {error}
        </span>
      )}
    </label>
  );
}

export function Check(props: { label: string; name: string; checked?: boolean; hint?: string }) {
  return (
    <label class="check">
      <input type="checkbox" name={props.name} value="on" checked={props.checked} />
      {props.label}
      {props.hint && <span class="hint">{props.hint}</span>}
    </label>
  );
}

/** A table that says so when it has no rows. */
export function Table(props: { head: (string | { label: string; class?: string })[]; empty: string; rows: Child[]; caption?: string }) {
  return (
    <div class="table-wrap">
      <table>
        {props.caption && <caption class="muted">{props.caption}</caption>}
        <thead>
          <tr>
            {props.head.map((h) => (typeof h === "string" ? <th>{h}</th> : <th class={h.class}>{h.label}</th>))}
          </tr>
        </thead>
        <tbody>
          {props.rows.length ? (
            props.rows
          ) : (
            <tr>
              <td class="empty" colspan={props.head.length}>
                {props.empty}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function StateBadge(props: { state: number }) {
  const [label, cls] =
    props.state === 2 ? ["Online", "ok"] : props.state === 3 ? ["Offline", "warn"] : props.state === 1 ? ["Init", ""] : props.state === 4 ? ["Shutdown", "bad"] : ["Deleted", "bad"];
  return <span class={`badge ${cls}`}>{label}</span>;
}

export function YesNo(props: { value: boolean; yes?: string; no?: string }) {
  return <span class={`badge ${props.value ? "ok" : ""}`}>{props.value ? (props.yes ?? "Yes") : (props.no ?? "No")}</span>;
}
