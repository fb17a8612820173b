/**
 * Counts events per key in fixed windows: a key's window opens at its first count and
 * lasts `windowMs`; after that the key starts from zero. Both attempt limiters (the
 * dashboard's login/2FA/API counters and the SOCKS authentication failure limiter) are
 * this counter with a different policy on top.
 *
 * In memory and bounded: at most `maxKeys` keys are tracked; past that the least
 * recently counted key is forgotten, so a spray from many addresses or account names
 * costs a fixed amount of memory (and can only push old entries out). The clock is
 * injectable so tests step time instead of sleeping.
 */

export interface WindowedCount {
  /** Events counted in the current window. */
  readonly count: number;
  /** When the window ends (clock milliseconds). */
  readonly resetAt: number;
}

export interface WindowedCounter {
  /** The key's count in its current window; undefined when it has none (never counted, or its window ended). */
  get(key: string): WindowedCount | undefined;
  /** Counts one event for the key (opening a window at the first) and returns the count after it. */
  add(key: string): WindowedCount;
  /** Forgets the key (a success clears its failures). */
  delete(key: string): void;
  /** Keys tracked now (windows that ended are dropped when next looked at or pushed out). */
  readonly size: number;
}

export interface WindowedCounterOptions {
  windowMs: number;
  /** Keys tracked at most. Default 10,000. */
  maxKeys?: number;
  now?: () => number;
}

export function createWindowedCounter(opts: WindowedCounterOptions): WindowedCounter {
  const { windowMs } = opts;
  const maxKeys = opts.maxKeys ?? 10_000;
  const now = opts.now ?? Date.now;
  if (!(windowMs > 0) || !(maxKeys >= 1)) throw new RangeError("windowMs and maxKeys must be positive");
  // Map order is insertion order: re-inserting on each count keeps the least recently counted first.
  const entries = new Map<string, { count: number; resetAt: number }>();

  const live = (key: string) => {
    const e = entries.get(key);
    if (e && e.resetAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };

  return {
    get: live,
    add(key) {
      const e = live(key) ?? { count: 0, resetAt: now() + windowMs };
      e.count++;
      entries.delete(key);
      entries.set(key, e);
      while (entries.size > maxKeys) entries.delete(entries.keys().next().value!);
      return e;
    },
    delete(key) {
      entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
