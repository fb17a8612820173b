/**
 * How often on-demand certificate orders may start, in memory: a ClientHello is cheap
 * for anyone to send, an order costs the CA's rate limits (Let's Encrypt: 300 new
 * orders per account per 3 hours, 5 failed validations per name per hour, 50
 * certificates per registered domain per week).
 *
 * - Globally: at most `perHour` orders in any sliding hour.
 * - Per name: after a failed order, the next one waits `failureBackoffMs`, doubled
 *   after each further failure up to `maxBackoffMs`; a success clears the name.
 * In-flight orders are the caller's business (one per name, joined by later handshakes).
 */

export interface OrderLimiterOptions {
  /** Orders allowed in any sliding hour (default 20). */
  perHour?: number;
  /** Wait after a name's first failed order (default 5 min), doubled per further failure. */
  failureBackoffMs?: number;
  /** Longest wait after failures (default 6 h). */
  maxBackoffMs?: number;
  now?: () => number;
}

export type OrderDecision = { ok: true } | { ok: false; why: "name_backoff" | "hourly_limit"; retryInMs: number };

export interface OrderLimiter {
  /** Whether an order for `name` may start now; when it may, the order is counted. */
  tryStart(name: string): OrderDecision;
  succeeded(name: string): void;
  failed(name: string): void;
}

const HOUR_MS = 3_600_000;

export function createOrderLimiter(opts: OrderLimiterOptions = {}): OrderLimiter {
  const perHour = opts.perHour ?? 20;
  const firstBackoff = opts.failureBackoffMs ?? 5 * 60_000;
  const maxBackoff = opts.maxBackoffMs ?? 6 * HOUR_MS;
  const now = opts.now ?? Date.now;
  /** Start times of the orders of the last hour, oldest first (at most `perHour`). */
  const starts: number[] = [];
  /** Names whose last order failed: how many times in a row, and when the next may start. */
  const failures = new Map<string, { count: number; notBefore: number }>();

  return {
    tryStart(name) {
      const t = now();
      const failure = failures.get(name);
      if (failure && t < failure.notBefore) return { ok: false, why: "name_backoff", retryInMs: failure.notBefore - t };
      while (starts.length > 0 && starts[0]! <= t - HOUR_MS) starts.shift();
      if (starts.length >= perHour) return { ok: false, why: "hourly_limit", retryInMs: starts[0]! + HOUR_MS - t };
      starts.push(t);
      return { ok: true };
    },
    succeeded(name) {
      failures.delete(name);
    },
    failed(name) {
      const count = (failures.get(name)?.count ?? 0) + 1;
      const wait = Math.min(firstBackoff * 2 ** (count - 1), maxBackoff);
      failures.set(name, { count, notBefore: now() + wait });
    },
  };
}
