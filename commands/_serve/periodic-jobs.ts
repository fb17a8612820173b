// The periodic jobs of a running server: traffic stats flushed to the database, this
// node's heartbeat (and its tunnels' uptime), tunnels whose token was deactivated or that
// were shut down disconnected, and housekeeping. A failed run is logged and the next one
// tries again; the server keeps serving.
import type { Logger } from "../../lib/log.ts";
import type { Database } from "../../db/client.ts";
import { fixHousekeepingIssues } from "../../db/queries/housekeeping.ts";
import { findRevokedTunnels, refreshHeartbeat, writeTrafficBatch } from "../../db/queries/live.ts";
import type { ServerConfig } from "../../lib/config/server-config.ts";
import { errorMessage } from "../../lib/errors.ts";
import type { TrafficStats } from "../../lib/stats/traffic-stats.ts";
import type { TunnelServer } from "../../lib/tunnel/server/server.ts";

const STATS_FLUSH_MS = 5_000;
const HEARTBEAT_MS = 5_000;
const REVOCATION_CHECK_MS = 2_000;
const HOUSEKEEPING_MS = 60_000;

export interface PeriodicJobsDeps {
  db: Database;
  node: string;
  started: number;
  tunnels: TunnelServer;
  stats: TrafficStats;
  portRange(): ServerConfig["portRange"];
  /** Cluster mode: housekeeping also wants every online tunnel to have a location. */
  cluster?: boolean;
  log: Logger;
}

export interface PeriodicJobs {
  /** Writes the traffic counted since the last flush (also the final flush at stop). */
  flushStats(): Promise<void>;
  stop(): void;
}

/** Records the first heartbeat, then starts the timers. */
export async function startPeriodicJobs({ db, node, started, tunnels, stats, portRange, cluster, log }: PeriodicJobsDeps): Promise<PeriodicJobs> {
  const onlineIds = () => [...tunnels.registry.all()].filter((t) => t.online).map((t) => t.tunnelId);
  const safely = (what: string, fn: () => Promise<unknown>) => () =>
    void fn().catch((err) => log.warn(`${what} failed: ${errorMessage(err)}`));
  const flushStats = () => writeTrafficBatch(db, stats.drain());
  const timers = [
    setInterval(safely("stats flush", flushStats), STATS_FLUSH_MS),
    setInterval(safely("heartbeat", () => refreshHeartbeat(db, node, started, onlineIds())), HEARTBEAT_MS),
    setInterval(
      safely("revocation check", async () => {
        for (const id of await findRevokedTunnels(db, onlineIds())) tunnels.disconnect(id, "tunnel shut down or auth token deactivated");
      }),
      REVOCATION_CHECK_MS,
    ),
    setInterval(
      safely("housekeeping", async () => {
        const fixed = await fixHousekeepingIssues(db, { portRange: portRange(), cluster });
        if (fixed > 0) log.info(`housekeeping fixed ${fixed} issue(s)`);
      }),
      HOUSEKEEPING_MS,
    ),
  ];
  await refreshHeartbeat(db, node, started, []);
  if (process.env.SPOKES_DEBUG_MEMORY) {
    timers.push(
      setInterval(() => {
        Bun.gc(true);
        const m = process.memoryUsage();
        log.info(`memory: rss ${(m.rss / 1048576).toFixed(1)} MiB, heap ${(m.heapUsed / 1048576).toFixed(1)} MiB, external ${(m.external / 1048576).toFixed(1)} MiB, tunnels ${tunnels.registry.size}`);
      }, Number(process.env.SPOKES_DEBUG_MEMORY) || 5000),
    );
  }
  return {
    flushStats,
    stop() {
      for (const t of timers) clearInterval(t);
    },
  };
}
