/** @jsxImportSource hono/jsx */
// The overview page: tunnel counts, bandwidth (with a 30-day chart), client platforms and versions.
import type { DayBandwidth } from "../../db/queries/bandwidth.ts";
import { formatBytes } from "../../lib/format/units.ts";
import { BandwidthChart } from "./bandwidth-chart.tsx";
import { Table } from "./components.tsx";

export interface OverviewProps {
  active: number;
  online: number;
  offline: number;
  init: number;
  daily: number;
  monthly: number;
  platforms: { os: string; arch: string; count: number }[];
  versions: { version: string; count: number }[];
  domain: string;
  /** Bytes per day of every tunnel, the last 30 days. */
  days: DayBandwidth[];
}

export function OverviewView(p: OverviewProps) {
  return (
    <>
      <h1>Overview</h1>
      <p class="muted">
        Server <strong>{p.domain}</strong>
      </p>
      <div class="cards">
        <Card label="Active tunnels" value={p.active} href="/tunnels" />
        <Card label="Online" value={p.online} href="/tunnels?state=online" />
        <Card label="Offline" value={p.offline} href="/tunnels?state=offline" />
        <Card label="Never connected" value={p.init} />
        <Card label="Bandwidth today" value={formatBytes(p.daily)} />
        <Card label="Bandwidth this month" value={formatBytes(p.monthly)} />
      </div>
      <BandwidthChart days={p.days} label="Bandwidth, last 30 days" />
      <div class="row">
        <section>
          <h2>Client platforms</h2>
          <Table
            head={["OS", "Arch", "Tunnels"]}
            empty="No client has connected yet."
            rows={p.platforms.map((r) => (
              <tr>
                <td>{r.os || "unknown"}</td>
                <td>{r.arch || "unknown"}</td>
                <td>{r.count}</td>
              </tr>
            ))}
          />
        </section>
        <section>
          <h2>Client versions</h2>
          <Table
            head={["Version", "Tunnels"]}
            empty="No client has connected yet."
            rows={p.versions.map((r) => (
              <tr>
                <td>{r.version || "unknown"}</td>
                <td>{r.count}</td>
              </tr>
            ))}
          />
        </section>
      </div>
    </>
  );
}

function Card(props: { label: string; value: string | number; href?: string }) {
  return (
    <div class="card">
      <div class="label">{props.label}</div>
      <div class="value">{props.href ? <a href={props.href}>{props.value}</a> : props.value}</div>
    </div>
  );
}
