// In-memory attempt counters for login, 2FA and API auth (per address and per account).
// Fixed windows in a bounded Map: an attacker spraying addresses or account names can
// push old entries out, but never grow memory without limit.

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
  const maxKeys = opts.maxKeys ?? 10_000;
  const entries = new Map<string, { count: number; resetAt: number }>();

  const live = (key: string) => {
    const e = entries.get(key);
    if (e && e.resetAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  const result = (e: { count: number; resetAt: number } | undefined): RateLimitResult =>
    !e || e.count <= opts.limit ? { ok: true, retryAfter: 0 } : { ok: false, retryAfter: Math.max(1, Math.ceil((e.resetAt - now()) / 1000)) };

  const makeRoom = () => {
    if (entries.size < maxKeys) return;
    const t = now();
    for (const [k, e] of entries) if (e.resetAt <= t) entries.delete(k);
    // Still full: drop the oldest windows (Map keeps insertion order).
    for (const k of entries.keys()) {
      if (entries.size < maxKeys) break;
      entries.delete(k);
    }
  };

  return {
    check(key) {
      const e = live(key);
      return e && e.count >= opts.limit ? { ok: false, retryAfter: Math.max(1, Math.ceil((e.resetAt - now()) / 1000)) } : { ok: true, retryAfter: 0 };
    },
    hit(key) {
      let e = live(key);
      if (!e) {
        makeRoom();
        e = { count: 0, resetAt: now() + opts.windowMs };
        entries.set(key, e);
      }
      e.count++;
      return result(e);
    },
    reset(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
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
