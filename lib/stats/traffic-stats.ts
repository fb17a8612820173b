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
  /** From whoever opened the connection toward the service it reached. */
  bytesIn: number;
  /** From the service back to whoever opened the connection. */
  bytesOut: number;
  started: number;
  durationMs: number;
}

/** A finished connection as its router reports it; the duration defaults to "until now". */
export type FinishedConnection = Omit<ConnectionRecord, "durationMs"> & { durationMs?: number };

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
  /**
   * Records a finished connection and adds its bytes to the tunnel's bandwidth: under the
   * service for a connection the tunnel served (http, https, tcp); under "mesh" or
   * "socks", from the tunnel's own side (what it received is "in"), for one it opened.
   */
  recordConnection(rec: FinishedConnection): void;
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

  const add = (tunnelId: string, service: string, bytesIn: number, bytesOut: number) => {
    if (!bytesIn && !bytesOut) return;
    bump(tunnelId, service, bytesIn, bytesOut);
    if (service !== "") bump(tunnelId, "", bytesIn, bytesOut);
  };

  return {
    add,
    recordConnection(rec) {
      if (rec.tunnelId) {
        if (rec.protocol === "mesh" || rec.protocol === "socks") add(rec.tunnelId, rec.protocol, rec.bytesOut, rec.bytesIn);
        else add(rec.tunnelId, rec.service, rec.bytesIn, rec.bytesOut);
      }
      // Bounded: if the database is unreachable for long, drop the oldest records rather than grow.
      if (connections.length >= MAX_PENDING_CONNECTIONS) connections.shift();
      connections.push({ ...rec, durationMs: rec.durationMs ?? now() - rec.started });
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
