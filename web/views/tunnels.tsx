/** @jsxImportSource hono/jsx */
// Tunnel list (search, pagination, per-user browsing) and tunnel details (rules and
// ports with their monitoring state, connections, bandwidth per rule and a 30-day chart,
// remote management, shutdown).
import type { DayBandwidth } from "../../db/queries/bandwidth.ts";
import type { ConnectionRow } from "../../db/queries/tunnel-details.ts";
import type { TunnelInfo } from "../../db/queries/tunnels.ts";
import type { HttpRule, PortMap, PortRule } from "../../lib/client-config/types.ts";
import { formatBytes, formatDate, formatUptime } from "../../lib/format/units.ts";
import { BandwidthChart } from "./bandwidth-chart.tsx";
import { ActionForm, Csrf, Flash, StateBadge, Table } from "./components.tsx";
import { HttpRuleForm, type HttpRuleFormState } from "./http-rule-form.tsx";
import { PortMapsSection, type PortMapFormState } from "./port-maps.tsx";
import { MeshAccessSection } from "./mesh-access.tsx";

export interface TunnelQuery {
  term: string;
  os: string;
  arch: string;
  version: string;
  state: string;
  user: string;
}

export function TunnelListView(p: {
  rows: TunnelInfo[];
  total: number;
  page: number;
  pages: number;
  query: TunnelQuery;
  facets: { os: string[]; arch: string[]; version: string[] };
  users: { id: string; email: string; tunnels: number }[];
  userName?: string;
}) {
  const link = (page: number) => {
    const q = new URLSearchParams(Object.entries({ ...p.query, page: String(page) }).filter(([, v]) => v !== "" && v !== "1"));
    return `/tunnels${q.size ? `?${q}` : ""}`;
  };
  return (
    <>
      <h1>Tunnels{p.userName && <span class="muted"> of {p.userName}</span>}</h1>
      <form class="panel stack" method="get" action="/tunnels" role="search">
        <div class="row">
          <label>
            Search
            <input type="search" name="term" value={p.query.term} placeholder="id, hostname, address, user" />
          </label>
          <Select label="OS" name="os" value={p.query.os} options={p.facets.os} />
          <Select label="Arch" name="arch" value={p.query.arch} options={p.facets.arch} />
          <Select label="Version" name="version" value={p.query.version} options={p.facets.version} />
          <Select label="State" name="state" value={p.query.state} options={["online", "offline", "init", "shutdown"]} anyLabel="Active" />
        </div>
        {p.query.user && <input type="hidden" name="user" value={p.query.user} />}
        <div class="actions">
          <button type="submit">Search</button>
          <a href="/tunnels">Clear</a>
        </div>
      </form>
      <p class="muted" id="tunnel-count">
        {p.total} {p.total === 1 ? "tunnel" : "tunnels"}
      </p>
      <Table
        head={["Hostname / ID", "State", "User", "Address", { label: "Client", class: "hide-sm" }, "Uptime", "Today / Month", { label: "Created", class: "hide-sm" }]}
        empty="No tunnels match. Tunnels appear here when a client registers with a token."
        rows={p.rows.map((t) => (
          <tr>
            <td>
              <a href={`/tunnels/${t.id}`}>{t.hostname || t.name || t.id.slice(0, 12)}</a>
              <div class="muted mono">{t.id}</div>
            </td>
            <td>
              <StateBadge state={t.state} />
              {t.node && <div class="muted mono" title="Cluster node holding the tunnel's connection">on {t.node}</div>}
            </td>
            <td>{t.userID ? <a href={`/tunnels?user=${t.userID}`}>{t.user}</a> : <span class="muted">-</span>}</td>
            <td>{t.address || "-"}</td>
            <td class="hide-sm">{t.os ? `${t.os}/${t.arch} ${t.version}` : "-"}</td>
            <td>{formatUptime(t.uptime)}</td>
            <td>
              {formatBytes(t.bandwidth.daily)} / {formatBytes(t.bandwidth.monthly)}
            </td>
            <td class="hide-sm">{formatDate(t.created)}</td>
          </tr>
        ))}
      />
      {p.pages > 1 && (
        <nav class="pager" aria-label="Pages">
          {p.page > 1 && <a href={link(p.page - 1)}>← Previous</a>}
          <span>
            Page {p.page} of {p.pages}
          </span>
          {p.page < p.pages && <a href={link(p.page + 1)}>Next →</a>}
        </nav>
      )}
      {p.users.length > 0 && !p.query.user && (
        <>
          <h2>Tunnel users</h2>
          <Table
            head={["User", "Tunnels"]}
            empty=""
            rows={p.users.map((u) => (
              <tr>
                <td>
                  <a href={`/tunnels?user=${u.id}`}>{u.email}</a>
                </td>
                <td>{u.tunnels}</td>
              </tr>
            ))}
          />
        </>
      )}
    </>
  );
}

function Select(p: { label: string; name: string; value: string; options: string[]; anyLabel?: string }) {
  return (
    <label>
      {p.label}
      <select name={p.name}>
        <option value="">{p.anyLabel ?? "Any"}</option>
        {p.options.map((o) => (
          <option value={o} selected={o === p.value}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

export interface ServiceMonitoring {
  available: boolean;
  /** The client's last report of a check; null when it never reported one (monitoring off). */
  lastCheck: Date | null;
}

/**
 * Online / Unavailable as last announced or checked, and when it was checked. Offline
 * tunnels keep their last state, marked as such: nothing checks them any more.
 */
function MonitoringCell(p: { state: ServiceMonitoring | undefined; online: boolean }) {
  if (!p.state) return <span class="muted">-</span>;
  return (
    <span class="monitoring" data-available={String(p.state.available)}>
      <span class={`badge ${p.state.available ? "ok" : "bad"}`}>{p.state.available ? "Online" : "Unavailable"}</span>{" "}
      <span class="muted">
        {p.state.lastCheck ? `checked ${formatDate(p.state.lastCheck)}` : "not checked"}
        {!p.online && ", tunnel offline"}
      </span>
    </span>
  );
}

/** A service's monitoring and bandwidth cells (a domain or a port). */
function ServiceCells(p: { detail: TunnelDetailProps; service: string | number }) {
  const bw = p.detail.bandwidth(p.service);
  return (
    <>
      <td>
        <MonitoringCell state={p.detail.monitoring(p.service)} online={p.detail.online} />
      </td>
      <td>
        {formatBytes(bw.daily)} / {formatBytes(bw.monthly)}
      </td>
    </>
  );
}

export interface TunnelDetailProps {
  csrf: string;
  tunnel: TunnelInfo;
  online: boolean;
  /** Where the rules come from: the connected client, or the copy saved when it last announced. */
  rulesSource: "live" | "cached";
  https: HttpRule[];
  ports: (PortRule & { allocated: boolean })[];
  bandwidth: (service: string | number) => { daily: number; monthly: number };
  /** The tunnel's bytes per day, the last 30 days. */
  days: DayBandwidth[];
  /** A service's stored monitoring state (a domain or a port); undefined when the server has none. */
  monitoring: (service: string | number) => ServiceMonitoring | undefined;
  connections: ConnectionRow[];
  ok?: string;
  error?: string;
  /** The HTTP rule form: values and errors after a failed submit, or the rule being edited. */
  httpForm?: HttpRuleFormState;
  portmaps: PortMap[];
  /** The port map form after a failed submit. */
  portMapForm?: PortMapFormState;
}

export function TunnelDetailView(p: TunnelDetailProps) {
  const t = p.tunnel;
  const base = `/tunnels/${t.id}`;
  const manage = p.online;
  return (
    <>
      <p>
        <a href="/tunnels">← Tunnels</a>
      </p>
      <h1>
        {t.hostname || t.name || "Tunnel"} <StateBadge state={t.state} />
      </h1>
      <Flash ok={p.ok} error={p.error} />
      <div class="panel">
        <dl class="facts">
          <dt>ID</dt>
          <dd class="mono">{t.id}</dd>
          <dt>User</dt>
          <dd>{t.userID ? <a href={`/tunnels?user=${t.userID}`}>{t.user}</a> : "-"}</dd>
          <dt>Address</dt>
          <dd>{t.address || "-"}</dd>
          {t.node && (
            <>
              <dt>Node</dt>
              <dd class="mono">{t.node}</dd>
            </>
          )}
          <dt>Client</dt>
          <dd>{t.os ? `${t.os}/${t.arch}, version ${t.version}` : "-"}</dd>
          <dt>Uptime</dt>
          <dd>{formatUptime(t.uptime)}</dd>
          <dt>Bandwidth</dt>
          <dd>
            {formatBytes(t.bandwidth.daily)} today, {formatBytes(t.bandwidth.monthly)} this month
          </dd>
          <dt>Created</dt>
          <dd>{formatDate(t.created)}</dd>
          <dt>Last active</dt>
          <dd>{formatDate(t.lastActive)}</dd>
        </dl>
      </div>
      <BandwidthChart days={p.days} label="Bandwidth of this tunnel, last 30 days" />

      <h2>
        HTTP rules <span class="badge">{p.rulesSource === "live" ? "live" : "cached"}</span>
      </h2>
      {!manage && t.state !== 4 && <p class="muted">The tunnel is offline: these are the rules it last announced. Rules can be changed while it is online.</p>}
      <Table
        head={["Domain", "Forward to", "Options", "Monitoring", "Today / Month", ""]}
        empty="No HTTP rules."
        rows={p.https.map((r) => {
          return (
            <tr>
              <td>{r.domain}</td>
              <td class="wrap">
                {[r.port ? `${r.destination}:${r.port}` : "", r.tls ? `TLS pass-through ${r.destination}:${r.tls}` : "", r.httpsUpstream ? `HTTPS re-encrypted ${r.destination}:${r.httpsUpstream}` : "", r.webRoot ? `files ${r.webRoot}` : "", r.redirectURL ? `→ ${r.redirectURL}` : ""]
                  .filter(Boolean)
                  .join(", ")}
              </td>
              <td class="wrap">
                {[
                  r.secure && "https",
                  r.redirect && "redirect to https",
                  r.useLetsEnc && "Let's Encrypt",
                  r.ca && "custom certificate",
                  r.password && "password",
                  r.basicHttpAuth && "basic auth",
                  r.firewall.length > 0 && `firewall (${r.firewall.length})`,
                  r.rewriteHost && `host ${r.rewriteHost}`,
                  r.insecureUpstream && "unverified upstream TLS",
                ]
                  .filter(Boolean)
                  .join(", ") || "-"}
              </td>
              <ServiceCells detail={p} service={r.domain} />
              <td>
                {manage && (
                  <div class="actions">
                    <a class="button small secondary" href={`${base}?edit=${encodeURIComponent(r.domain)}#http-form`}>
                      Edit
                    </a>
                    <ActionForm csrf={p.csrf} action={`${base}/http/remove`} label="Remove" class="danger" confirm={`Remove the rule for ${r.domain}?`}>
                      <input type="hidden" name="domain" value={r.domain} />
                    </ActionForm>
                  </div>
                )}
              </td>
            </tr>
          );
        })}
      />
      {manage && <HttpRuleForm csrf={p.csrf} action={`${base}/http`} cancel={base} state={p.httpForm} />}

      <h2>TCP ports</h2>
      <Table
        head={["Port", "Forward to", "Monitoring", "Today / Month", ""]}
        empty="No ports allocated."
        rows={p.ports.map((r) => {
          return (
            <tr>
              <td>{r.port}</td>
              <td>{r.destination ? `${r.destination}:${r.dstPort}` : <span class="muted">not forwarded</span>}</td>
              <ServiceCells detail={p} service={r.port} />
              <td>
                {manage && (
                  <div class="actions">
                    <details class="edit">
                      <summary>Set forward</summary>
                      <form class="inline" method="post" action={`${base}/ports/${r.port}/forward`}>
                        <Csrf token={p.csrf} />
                        <input type="text" name="destination" value={r.destination || "127.0.0.1"} aria-label="Destination host" />
                        <input type="number" name="dstPort" min={1} max={65535} value={r.dstPort || undefined} aria-label="Destination port" placeholder="port" required />
                        <button class="small" type="submit">
                          Save
                        </button>
                      </form>
                    </details>
                    {r.destination && <ActionForm csrf={p.csrf} action={`${base}/ports/${r.port}/clear`} label="Clear forward" class="secondary" />}
                    <ActionForm csrf={p.csrf} action={`${base}/ports/${r.port}/release`} label="Release" class="danger" confirm={`Release port ${r.port}? Another tunnel may get it.`} />
                  </div>
                )}
              </td>
            </tr>
          );
        })}
      />
      {manage && (
        <form method="post" action={`${base}/ports/allocate`}>
          <Csrf token={p.csrf} />
          <button class="secondary" type="submit">
            Allocate a port
          </button>
        </form>
      )}

      <PortMapsSection csrf={p.csrf} base={base} portmaps={p.portmaps} manage={manage} form={p.portMapForm} />

      <MeshAccessSection csrf={p.csrf} base={base} manage={manage} https={p.https} ports={p.ports} />

      <h2>Recent connections</h2>
      <Table
        head={["Started", "Service", "From", "In / Out", "Duration"]}
        empty="No connections recorded yet."
        rows={p.connections.map((r) => (
          <tr>
            <td>{formatDate(r.started)}</td>
            <td>
              {r.protocol} {r.service}
            </td>
            <td>{r.remoteAddress || "-"}</td>
            <td>
              {formatBytes(r.bytesIn)} / {formatBytes(r.bytesOut)}
            </td>
            <td>{r.durationMs < 1000 ? `${r.durationMs} ms` : `${(r.durationMs / 1000).toFixed(1)} s`}</td>
          </tr>
        ))}
      />

      {t.state !== 4 && (
        <>
          <h2>Shut down</h2>
          <div class="panel">
            <p>Shutting down deactivates the tunnel's auth token, releases its ports and disconnects the client. It cannot be undone.</p>
            <a class="button secondary" href={`${base}/shutdown`}>
              Shut down this tunnel…
            </a>
          </div>
        </>
      )}
    </>
  );
}

export function ShutdownConfirmView(p: { csrf: string; tunnel: TunnelInfo }) {
  const name = p.tunnel.hostname || p.tunnel.id;
  return (
    <>
      <h1>Shut down {name}?</h1>
      <div class="panel">
        <p>
          The auth token of tunnel <code>{p.tunnel.id}</code> is deactivated, its ports are released and the client is disconnected. The client
          cannot reconnect with this token.
        </p>
        <form class="actions" method="post" action={`/tunnels/${p.tunnel.id}/shutdown`}>
          <Csrf token={p.csrf} />
          <button class="danger" type="submit">
            Shut down
          </button>
          <a href={`/tunnels/${p.tunnel.id}`}>Cancel</a>
        </form>
      </div>
    </>
  );
}
