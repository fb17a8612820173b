/**
 * How often on-demand certificate orders may start, in memory: a ClientHello is cheap
 * for anyone to send, an order costs the CA's rate limits (Let's Encrypt: 300 new
 * orders per account per 3 hours, 5 failed validations per name per hour, 50
 * certificates per registered domain per week).
 *
 * - Globally: at most `perHour` orders per hour (a window opened by the first order, lib/rate/windowed-counter.ts).
 * - Per name: after a failed order, the next one waits `failureBackoffMs`, doubled
 *   after each further failure up to `maxBackoffMs`, or longer when the CA's Retry-After
 *   says so; a success clears the name.
 * In-flight orders are the caller's business (one per name, joined by later handshakes).
 */
import { createWindowedCounter } from "../rate/windowed-counter.ts";

export interface OrderLimiterOptions {
  /** Orders allowed per hour window (default 20). */
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
  /** A failed order; `retryAfterMs` is how long the CA asked us to wait (never undercut). */
  failed(name: string, retryAfterMs?: number): void;
}

const HOUR_MS = 3_600_000;
const ALL_ORDERS = "orders";

export function createOrderLimiter(opts: OrderLimiterOptions = {}): OrderLimiter {
  const perHour = opts.perHour ?? 20;
  const firstBackoff = opts.failureBackoffMs ?? 5 * 60_000;
  const maxBackoff = opts.maxBackoffMs ?? 6 * HOUR_MS;
  const now = opts.now ?? Date.now;
  const hourly = createWindowedCounter({ windowMs: HOUR_MS, maxKeys: 1, now });
  /** Names whose last order failed: how many times in a row, and when the next may start. */
  const failures = new Map<string, { count: number; notBefore: number }>();

  return {
    tryStart(name) {
      const t = now();
      const failure = failures.get(name);
      if (failure && t < failure.notBefore) return { ok: false, why: "name_backoff", retryInMs: failure.notBefore - t };
      const used = hourly.get(ALL_ORDERS);
      if (used && used.count >= perHour) return { ok: false, why: "hourly_limit", retryInMs: used.resetAt - t };
      hourly.add(ALL_ORDERS);
      return { ok: true };
    },
    succeeded(name) {
      failures.delete(name);
    },
    failed(name, retryAfterMs = 0) {
      const count = (failures.get(name)?.count ?? 0) + 1;
      const wait = Math.max(Math.min(firstBackoff * 2 ** (count - 1), maxBackoff), retryAfterMs);
      failures.set(name, { count, notBefore: now() + wait });
    },
  };
}
