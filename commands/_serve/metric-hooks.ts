// What the engines report to the metrics (onConnection, onWindowStall, onOrder, the traffic
// stats), apart from prom-client: without listen.metrics the server uses the hooks below,
// which count nothing, and prom-client is never loaded (see metrics.ts for the real ones).
import type { ConnectionKind, ConnectionOutcome } from "../../lib/edge/edge-router.ts";
import type { TrafficStats } from "../../lib/stats/traffic-stats.ts";

export interface MetricHooks {
  connection(kind: ConnectionKind, outcome: ConnectionOutcome): void;
  loginRefused(): void;
  acmeOrder(outcome: "success" | "failure"): void;
  windowStall(): void;
  /** Cluster mode: a peer stream opened toward a tunnel's holder (`sent`) or received as the holder, or refused. */
  peerStream(end: "sent" | "received", outcome: "opened" | "failed"): void;
  /** The same stats, counting each finished connection's bytes by service kind. */
  countTraffic(stats: TrafficStats): TrafficStats;
}

export const uncountedMetrics: MetricHooks = {
  connection() {},
  loginRefused() {},
  acmeOrder() {},
  windowStall() {},
  peerStream() {},
  countTraffic: (stats) => stats,
};
