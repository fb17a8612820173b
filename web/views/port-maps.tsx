/** @jsxImportSource hono/jsx */
// The client's port maps (`pktriot ports map`, SPEC 3.2 "Mesh") on a tunnel's page: while
// the client runs, 127.0.0.1:<local port> on its machine reaches destination:port through
// the server's mesh resolver. Added, edited and removed live through remote management.
import type { PortMap } from "../../lib/client-config/types.ts";
import { ActionForm, Csrf, Field, Table, type FieldErrors } from "./components.tsx";

export interface PortMapFormValues {
  listenPort: string;
  destination: string;
  dstPort: string;
  label: string;
}

export interface PortMapFormState {
  values: PortMapFormValues;
  errors: FieldErrors;
  /** The local port of the map being edited (its listener stays where it is). */
  editing?: number;
}

export function PortMapsSection(p: { csrf: string; base: string; portmaps: PortMap[]; manage: boolean; form?: PortMapFormState }) {
  const f = p.form;
  const v = f?.values ?? { listenPort: "", destination: "", dstPort: "", label: "" };
  const e = f?.errors ?? {};
  return (
    <>
      <h2 id="portmaps">Port maps</h2>
      <p class="muted">On the client's machine, 127.0.0.1:local port reaches the destination through this server (a service behind another tunnel, or an allow-listed host).</p>
      <Table
        head={["Local port", "Transport", "Destination", "Label", ""]}
        empty="No port maps."
        rows={p.portmaps.map((m) => (
          <tr>
            <td>127.0.0.1:{m.listenPort}</td>
            <td>{m.transport}</td>
            <td>
              {m.destination}:{m.dstPort}
            </td>
            <td>{m.label || <span class="muted">-</span>}</td>
            <td>
              {p.manage && (
                <div class="actions">
                  <details class="edit" open={f?.editing === m.listenPort}>
                    <summary>Edit</summary>
                    <form class="inline" method="post" action={`${p.base}/portmaps`}>
                      <Csrf token={p.csrf} />
                      <input type="hidden" name="listenPort" value={String(m.listenPort)} />
                      <input type="hidden" name="editing" value="1" />
                      <input type="text" name="destination" value={f?.editing === m.listenPort ? v.destination : m.destination} aria-label={`Destination of local port ${m.listenPort}`} />
                      <input type="number" name="dstPort" min={1} max={65535} value={f?.editing === m.listenPort ? v.dstPort : String(m.dstPort)} aria-label={`Destination port of local port ${m.listenPort}`} />
                      <input type="text" name="label" value={f?.editing === m.listenPort ? v.label : m.label} aria-label={`Label of local port ${m.listenPort}`} placeholder="label" />
                      <button class="small" type="submit">
                        Save
                      </button>
                    </form>
                  </details>
                  <ActionForm csrf={p.csrf} action={`${p.base}/portmaps/${m.listenPort}/remove`} label="Remove" class="danger" confirm={`Remove the port map on local port ${m.listenPort}?`} />
                </div>
              )}
            </td>
          </tr>
        ))}
      />
      {f?.editing !== undefined && Object.values(e).some(Boolean) && (
        <p class="flash error" role="alert">
          {Object.values(e).filter(Boolean).join(" ")}
        </p>
      )}
      {p.manage && (
        <div class="panel" id="portmap-form">
          <h2>Add a port map</h2>
          <form class="stack" method="post" action={`${p.base}/portmaps`}>
            <Csrf token={p.csrf} />
            <div class="row">
              <Field label="Local port" name="listenPort" type="number" min={1} max={65535} value={f?.editing === undefined ? v.listenPort : ""} errors={f?.editing === undefined ? e : {}} hint="on the client, 127.0.0.1" required />
              <label>
                Transport
                <select name="transport">
                  <option value="tcp" selected>
                    tcp
                  </option>
                </select>
              </label>
              <Field label="Destination host" name="destination" value={f?.editing === undefined ? v.destination : ""} errors={f?.editing === undefined ? e : {}} required placeholder="redis.internal" />
              <Field label="Destination port" name="dstPort" type="number" min={1} max={65535} value={f?.editing === undefined ? v.dstPort : ""} errors={f?.editing === undefined ? e : {}} required />
              <Field label="Label" name="label" value={f?.editing === undefined ? v.label : ""} errors={f?.editing === undefined ? e : {}} hint="optional" />
            </div>
            {f?.editing === undefined && e.portmap && <p class="field-error">{e.portmap}</p>}
            <div>
              <button type="submit">Add port map</button>
            </div>
          </form>
        </div>
      )}
    </>
  );
}
