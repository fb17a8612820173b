// Bandwidth and connection records, batched in memory and handed to a writer every few
// seconds (SPEC 2.3: "batched in memory and written in one transaction"). The data path
// only adds numbers to a Map entry; nothing here touches I/O.

export interface BandwidthDelta {
  tunnelId: string;
  /** A domain, a port number as text, or "" for the tunnel's total. */
  service: string;
  day: string;
  bytesIn: number;
  bytesOut: number;
}

export interface ConnectionRecord {
  tunnelId: string;
  service: string;
  protocol: "http" | "https" | "tcp" | "mesh" | "socks";
  remoteAddress: string;
  bytesIn: number;
  bytesOut: number;
  started: number;
  durationMs: number;
}

export interface TrafficBatch {
  bandwidth: BandwidthDelta[];
  connections: ConnectionRecord[];
}

/** Days are UTC, matching the database's `day` column and the CLI's "Daily / Monthly". */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export interface TrafficStats {
  /** Adds bytes to a tunnel's service and to its total. */
  add(tunnelId: string, service: string, bytesIn: number, bytesOut: number): void;
  recordConnection(rec: ConnectionRecord): void;
  /** Takes everything accumulated so far (the caller writes it in one transaction). */
  drain(): TrafficBatch;
  /** Bytes not yet drained, for live figures. */
  pendingFor(tunnelId: string): { bytesIn: number; bytesOut: number };
}

const MAX_PENDING_CONNECTIONS = 10000;

export function createTrafficStats(now: () => number = Date.now): TrafficStats {
  let bandwidth = new Map<string, BandwidthDelta>();
  let connections: ConnectionRecord[] = [];

  const bump = (tunnelId: string, service: string, bytesIn: number, bytesOut: number) => {
    const day = utcDay(now());
    const key = `${tunnelId}\u0000${service}\u0000${day}`;
    let e = bandwidth.get(key);
    if (!e) {
      e = { tunnelId, service, day, bytesIn: 0, bytesOut: 0 };
      bandwidth.set(key, e);
    }
    e.bytesIn += bytesIn;
    e.bytesOut += bytesOut;
  };

  return {
    add(tunnelId, service, bytesIn, bytesOut) {
      if (!bytesIn && !bytesOut) return;
      bump(tunnelId, service, bytesIn, bytesOut);
      if (service !== "") bump(tunnelId, "", bytesIn, bytesOut);
    },
    recordConnection(rec) {
      // Bounded: if the database is unreachable for long, drop the oldest records rather than grow.
      if (connections.length >= MAX_PENDING_CONNECTIONS) connections.shift();
      connections.push(rec);
    },
    drain() {
      const batch = { bandwidth: [...bandwidth.values()], connections };
      bandwidth = new Map();
      connections = [];
      return batch;
    },
    pendingFor(tunnelId) {
      let bytesIn = 0;
      let bytesOut = 0;
      for (const e of bandwidth.values()) {
        if (e.tunnelId === tunnelId && e.service === "") {
          bytesIn += e.bytesIn;
          bytesOut += e.bytesOut;
        }
      }
      return { bytesIn, bytesOut };
    },
  };
}
