// The node's view of the cluster, refreshed every CLUSTER_SYNC_MS from the store: the
// live nodes (the peer links follow them), the other nodes' tunnel locations (the remote
// routes: stamps every time, full rows only for the ones that changed), and the local
// tunnels whose location now names another node: a newer login of the same tunnel there
// wins, and the session here is disconnected.
import type { Logger } from "../log.ts";
import { every, realClock, type Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { RemoteRoutes } from "./remote-routes.ts";
import { CLUSTER_NODE_DEAD_MS, CLUSTER_SYNC_MS, type ClusterNode, type ClusterStore, type TunnelLocationStamp } from "./types.ts";

export interface LocalTunnelView {
  readonly tunnelId: string;
  /** The login's session id (its location epoch). */
  readonly session: string;
  readonly online: boolean;
}

export interface ClusterSyncOptions {
  nodeId: string;
  store: Pick<ClusterStore, "liveNodes" | "locationStamps" | "locations">;
  remote: RemoteRoutes;
  /** The live nodes, after each sync (the peer links follow them). */
  onNodes(nodes: ClusterNode[]): void;
  /** The remote tunnels' listener ports, after a sync that changed remote routes. */
  onRemotePorts(ports: Set<number>): void;
  localTunnels(): Iterable<LocalTunnelView>;
  disconnect(tunnelId: string, reason: string): void;
  clock?: Clock;
  intervalMs?: number;
  log: Logger;
}

export interface ClusterSync {
  /** One sync now (the timer's work; tests call it directly). Never rejects. */
  sync(): Promise<void>;
  start(): void;
  stop(): void;
}

/** Full rows are fetched in batches of this many ids. */
const FETCH_BATCH = 500;

const stampKey = (s: Pick<TunnelLocationStamp, "nodeId" | "epoch" | "updatedAt">) => `${s.nodeId}\n${s.epoch}\n${s.updatedAt}`;

interface Watched {
  session: string;
  /** The tunnel's location when this session was first seen here ("" when there was none). */
  first: string;
  /** This session's own location was seen in the store. */
  confirmed: boolean;
}

export function createClusterSync(opts: ClusterSyncOptions): ClusterSync {
  const me = opts.nodeId;
  /** Stamp keys of the remote locations routed now. */
  const known = new Map<string, string>();
  const watched = new Map<string, Watched>();
  let running = false;
  let failing: string | undefined;
  let stopTimer: (() => void) | undefined;

  const reconcileRemote = async (stamps: Map<string, TunnelLocationStamp>): Promise<boolean> => {
    const changed: string[] = [];
    for (const [id, s] of stamps) if (s.nodeId !== me && known.get(id) !== stampKey(s)) changed.push(id);
    let touched = false;
    for (const id of [...known.keys()]) {
      const s = stamps.get(id);
      if (s && s.nodeId !== me) continue;
      known.delete(id);
      opts.remote.remove(id);
      touched = true;
    }
    for (let i = 0; i < changed.length; i += FETCH_BATCH) {
      const ids = changed.slice(i, i + FETCH_BATCH);
      const rows = new Map((await opts.store.locations(ids)).map((l) => [l.tunnelId, l]));
      for (const id of ids) {
        const row = rows.get(id);
        touched = true;
        if (!row || row.nodeId === me) {
          // Cleared (or taken here) between the stamps and the rows.
          known.delete(id);
          opts.remote.remove(id);
          continue;
        }
        opts.remote.set(row);
        known.set(id, stampKey(row));
      }
    }
    return touched;
  };

  /**
   * A local tunnel whose location names another node is disconnected, but only when that
   * location was written after this session's login: once this session's own location
   * was seen, or when the location changed while the session was up here. A location
   * older than the session (the node it came from, before this login's write landed)
   * is not a reason.
   */
  const disconnectReplaced = (stamps: Map<string, TunnelLocationStamp>) => {
    const seen = new Set<string>();
    for (const t of opts.localTunnels()) {
      if (!t.online) continue;
      seen.add(t.tunnelId);
      const s = stamps.get(t.tunnelId);
      let w = watched.get(t.tunnelId);
      if (!w || w.session !== t.session) {
        w = { session: t.session, first: s ? stampKey(s) : "", confirmed: false };
        watched.set(t.tunnelId, w);
      }
      if (!s) continue;
      if (s.nodeId === me) {
        if (s.epoch === t.session) w.confirmed = true;
        continue;
      }
      if (!w.confirmed && stampKey(s) === w.first) continue;
      watched.delete(t.tunnelId);
      opts.log.info(`tunnel ${t.tunnelId} logged in on node ${s.nodeId}: disconnecting its older session here`, { tunnel: t.tunnelId });
      opts.disconnect(t.tunnelId, `replaced by a connection on node ${s.nodeId}`);
    }
    for (const id of watched.keys()) if (!seen.has(id)) watched.delete(id);
  };

  const sync = async () => {
    if (running) return;
    running = true;
    try {
      opts.onNodes(await opts.store.liveNodes(CLUSTER_NODE_DEAD_MS));
      const stamps = new Map((await opts.store.locationStamps()).map((s) => [s.tunnelId, s]));
      if (await reconcileRemote(stamps)) opts.onRemotePorts(opts.remote.listenerPorts());
      disconnectReplaced(stamps);
      if (failing) opts.log.info("cluster sync works again");
      failing = undefined;
    } catch (err) {
      // Routes stay as last synced; one line per streak of the same failure.
      const why = errorMessage(err);
      if (why !== failing) opts.log.warn(`cluster sync failed: ${why}`);
      failing = why;
    } finally {
      running = false;
    }
  };

  return {
    sync,
    start() {
      stopTimer ??= every(opts.clock ?? realClock, opts.intervalMs ?? CLUSTER_SYNC_MS, () => void sync(), { unref: true });
      void sync();
    },
    stop() {
      stopTimer?.();
      stopTimer = undefined;
    },
  };
}
