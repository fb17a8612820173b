/** @jsxImportSource hono/jsx */
// The "Mesh access" section of a tunnel's details: for each TCP port and HTTP rule, whether
// it has a public listener and which tunnels or tunnel users may reach it through the mesh,
// with a small form per service (remote management, through web/remote.ts).
import type { HttpRule, PortRule } from "../../lib/client-config/types.ts";
import { ActionForm, Check, Table } from "./components.tsx";

export interface MeshAccessProps {
  csrf: string;
  /** `/tunnels/<id>` */
  base: string;
  /** Forms only while the tunnel is online (changes go to the connected client). */
  manage: boolean;
  https: HttpRule[];
  ports: PortRule[];
}

const who = (list: string[] | undefined) => (list?.length ? list.join(", ") : "any tunnel");

export function MeshAccessSection(p: MeshAccessProps) {
  const services = [
    ...p.ports.map((r) => ({ key: `port-${r.port}`, name: String(r.port), kind: "TCP port", rule: r, private: r.private === true, action: `${p.base}/ports/${r.port}/mesh`, fields: {} })),
    ...p.https.map((r) => ({ key: `http-${r.domain}`, name: r.domain, kind: "HTTP rule", rule: r, private: undefined, action: `${p.base}/http/mesh`, fields: { domain: r.domain } })),
  ];
  return (
    <>
      <h2 id="mesh-access">Mesh access</h2>
      <p class="muted">
        Which tunnels may reach each service through the mesh (<code>pktriot ports map</code>, a client's SOCKS proxy, or the public SOCKS port
        with a tunnel's auth token). Entries: <code>tunnel:&lt;tunnel id&gt;</code> or <code>user:&lt;user name or id&gt;</code>; an empty list lets
        any tunnel in. A private port has no public listener.
      </p>
      <Table
        head={["Service", "Public listener", "Who may reach it", ""]}
        empty="No services."
        rows={services.map((s) => (
          <tr id={`mesh-${s.key}`}>
            <td>
              {s.name} <span class="muted">{s.kind}</span>
            </td>
            <td>{s.kind === "HTTP rule" ? "yes" : s.private ? <span class="badge">private</span> : "yes"}</td>
            <td class="wrap mesh-allow">{who(s.rule.meshAllow)}</td>
            <td>
              {p.manage && (
                <details class="edit">
                  <summary>Edit access</summary>
                  <ActionForm csrf={p.csrf} action={s.action} label="Save">
                    {Object.entries(s.fields).map(([k, v]) => (
                      <input type="hidden" name={k} value={v} />
                    ))}
                    <input type="text" name="meshAllow" value={(s.rule.meshAllow ?? []).join(", ")} placeholder="any tunnel" aria-label={`Who may reach ${s.name}`} />
                    {s.private !== undefined && <Check label="private" name="private" checked={s.private} />}
                  </ActionForm>
                </details>
              )}
            </td>
          </tr>
        ))}
      />
    </>
  );
}
