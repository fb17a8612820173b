// Prometheus metrics of a running server (prom-client, text exposition format). The
// engines report through their hooks (onConnection, onWindowStall, onOrder, the traffic
// stats); gauges are read from the live registry and the database when scraped.
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { FinishedConnection, TrafficStats } from "../../lib/stats/traffic-stats.ts";
import type { MetricHooks } from "./metric-hooks.ts";

export interface MetricsSources {
  /** Tunnels per state as the database has them. */
  tunnelsByState(): Promise<Record<string, number>>;
  /** Tunnels connected to this process now. */
  connectedTunnels(): number;
  /** Mux streams open over every tunnel session now. */
  openStreams(): number;
  /** Cluster mode: other nodes this one has a peer link to now. */
  peerSessions?(): number;
}

/** The hooks, counting into a registry that `listen.metrics` serves. */
export interface ServerMetrics extends MetricHooks {
  readonly registry: Registry;
}

export function createServerMetrics(sources: MetricsSources): ServerMetrics {
  const registry = new Registry();
  // process_resident_memory_bytes, nodejs_heap_*, nodejs_eventloop_lag_seconds, ...
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters (promtool's lint rejects them) that count Node.js handles,
  // which Bun does not track the same way.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  const registers = [registry];

  new Gauge({
    name: "spokes_tunnels",
    help: "Tunnels by state in the database (init, online, offline, shutdown, deleted).",
    labelNames: ["state"],
    registers,
    async collect() {
      this.reset();
      for (const [state, n] of Object.entries(await sources.tunnelsByState())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: "spokes_tunnels_connected",
    help: "Tunnels connected to this server process.",
    registers,
    collect() {
      this.set(sources.connectedTunnels());
    },
  });
  new Gauge({
    name: "spokes_streams_open",
    help: "Multiplexed streams open over every tunnel session.",
    registers,
    collect() {
      this.set(sources.openStreams());
    },
  });
  const bytes = new Counter({
    name: "spokes_traffic_bytes_total",
    help: "Bytes through tunnels by service kind (http, https, tcp, socks, mesh) and direction (in: from visitors), counted when a connection or request ends.",
    labelNames: ["kind", "direction"],
    registers,
  });
  const connections = new Counter({
    name: "spokes_connections_total",
    help: "Public connections by listener kind (tcp, tls, http) and outcome (accepted or the refusal reason).",
    labelNames: ["kind", "outcome"],
    registers,
  });
  const logins = new Counter({ name: "spokes_tunnel_logins_refused_total", help: "Tunnel client logins refused (bad or inactive token, shut-down tunnel).", registers });
  const acme = new Counter({ name: "spokes_acme_orders_total", help: "ACME certificate orders by outcome.", labelNames: ["outcome"], registers });
  const stalls = new Counter({
    name: "spokes_mux_window_stalls_total",
    help: "Times a tunnel stream used up the client's flow-control window with data still queued.",
    registers,
  });
  if (sources.peerSessions) {
    const peerSessions = sources.peerSessions;
    new Gauge({
      name: "spokes_cluster_peer_sessions",
      help: "Other cluster nodes this node has a peer link (mux session) to.",
      registers,
      collect() {
        this.set(peerSessions());
      },
    });
  }
  const peerStreams = new Counter({
    name: "spokes_cluster_peer_streams_total",
    help: "Streams over cluster peer links: sent (opened toward the node holding a tunnel) or received (as the holder), opened or failed (no link, unknown tunnel, stale epoch).",
    labelNames: ["end", "outcome"],
    registers,
  });
  // Zero series exist from the start, so rate() works before the first event.
  acme.inc({ outcome: "success" }, 0);
  acme.inc({ outcome: "failure" }, 0);

  return {
    registry,
    connection: (kind, outcome) => connections.inc({ kind, outcome }),
    loginRefused: () => logins.inc(),
    acmeOrder: (outcome) => acme.inc({ outcome }),
    windowStall: () => stalls.inc(),
    peerStream: (end, outcome) => peerStreams.inc({ end, outcome }),
    countTraffic(stats) {
      return {
        ...stats,
        recordConnection(rec: FinishedConnection) {
          bytes.inc({ kind: rec.protocol, direction: "in" }, rec.bytesIn);
          bytes.inc({ kind: rec.protocol, direction: "out" }, rec.bytesOut);
          stats.recordConnection(rec);
        },
      };
    },
  };
}
