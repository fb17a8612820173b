// In-memory attempt counters for login, 2FA and API auth (per address and per account):
// fixed windows in a bounded windowed counter (lib/rate/windowed-counter.ts), so an
// attacker spraying addresses or account names can push old entries out, but never grow
// memory without limit.
import { createWindowedCounter, type WindowedCount } from "../../lib/rate/windowed-counter.ts";

export interface RateLimitResult {
  ok: boolean;
  /** Seconds until the window resets (0 when ok). */
  retryAfter: number;
}

export interface RateLimiter {
  /** Whether another attempt is allowed now, without counting one. */
  check(key: string): RateLimitResult;
  /** Counts an attempt; not ok once the limit is exceeded. */
  hit(key: string): RateLimitResult;
  reset(key: string): void;
  readonly size: number;
}

export interface RateLimitOptions {
  limit: number;
  windowMs: number;
  maxKeys?: number;
  now?: () => number;
}

export function createRateLimiter(opts: RateLimitOptions): RateLimiter {
  const now = opts.now ?? Date.now;
  const attempts = createWindowedCounter({ windowMs: opts.windowMs, maxKeys: opts.maxKeys, now });
  const refused = (e: WindowedCount): RateLimitResult => ({ ok: false, retryAfter: Math.max(1, Math.ceil((e.resetAt - now()) / 1000)) });
  return {
    check(key) {
      const e = attempts.get(key);
      return e && e.count >= opts.limit ? refused(e) : { ok: true, retryAfter: 0 };
    },
    hit(key) {
      const e = attempts.add(key);
      return e.count <= opts.limit ? { ok: true, retryAfter: 0 } : refused(e);
    },
    reset: (key) => attempts.delete(key),
    get size() {
      return attempts.size;
    },
  };
}

/** The limits the web app uses; tests may pass smaller ones. */
export interface WebRateLimits {
  /** Login attempts per client address. */
  loginPerAddress: RateLimiter;
  /** Failed logins per account (email). */
  loginPerAccount: RateLimiter;
  /** Passcode attempts per address and per user. */
  twoFactorPerAddress: RateLimiter;
  twoFactorPerAccount: RateLimiter;
  /** Admin API auth attempts per address and per key prefix. */
  apiAuthPerAddress: RateLimiter;
  apiAuthPerKey: RateLimiter;
  /** First-run ADMIN_SECRET attempts per address. */
  setupPerAddress: RateLimiter;
}

export function defaultRateLimits(now?: () => number): WebRateLimits {
  const min = 60_000;
  return {
    loginPerAddress: createRateLimiter({ limit: 20, windowMs: 5 * min, now }),
    loginPerAccount: createRateLimiter({ limit: 5, windowMs: 15 * min, now }),
    twoFactorPerAddress: createRateLimiter({ limit: 20, windowMs: 5 * min, now }),
    twoFactorPerAccount: createRateLimiter({ limit: 5, windowMs: 5 * min, now }),
    apiAuthPerAddress: createRateLimiter({ limit: 20, windowMs: 5 * min, now }),
    apiAuthPerKey: createRateLimiter({ limit: 10, windowMs: 5 * min, now }),
    setupPerAddress: createRateLimiter({ limit: 10, windowMs: 15 * min, now }),
  };
}
