/**
 * Per-address limit on failed SOCKS authentications (a token guesser gets a handful of
 * tries per window, then every attempt fails without reaching the token check).
 * In memory and bounded: past `maxEntries` addresses the least recently failed one is
 * forgotten, so a spray from many addresses costs a fixed amount of memory. IPv6 peers
 * are counted per /64, the block one subscriber usually holds.
 */
import { parseIpLiteral } from "./allow-list.ts";

export interface FailureLimiter {
  /** True while `address` has used up its failures for the current window. */
  blocked(address: string): boolean;
  failed(address: string): void;
  /** A success clears the address's count. */
  succeeded(address: string): void;
  readonly size: number;
}

export interface FailureLimiterOptions {
  /** Failures allowed per window. Default 10. */
  maxFailures?: number;
  /** Default 60 s, counted from the first failure. */
  windowMs?: number;
  /** Addresses tracked at most. Default 10,000. */
  maxEntries?: number;
  now?: () => number;
}

/** The key an address is counted under: the address itself, or its /64 for IPv6. */
export function failureKey(address: string): string {
  const ip = parseIpLiteral(address);
  if (!ip) return address;
  if (ip.kind() === "ipv4") return ip.toString();
  const parts = (ip as { parts: number[] }).parts;
  return `${parts.slice(0, 4).map((p) => p.toString(16)).join(":")}::/64`;
}

export function createFailureLimiter(opts: FailureLimiterOptions = {}): FailureLimiter {
  const maxFailures = opts.maxFailures ?? 10;
  const windowMs = opts.windowMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const now = opts.now ?? Date.now;
  // Map order is insertion order: re-inserting on each failure keeps the oldest first.
  const entries = new Map<string, { count: number; until: number }>();

  const current = (key: string) => {
    const e = entries.get(key);
    if (e && e.until <= now()) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };

  return {
    blocked(address) {
      const e = current(failureKey(address));
      return e !== undefined && e.count >= maxFailures;
    },
    failed(address) {
      const key = failureKey(address);
      const e = current(key) ?? { count: 0, until: now() + windowMs };
      e.count++;
      entries.delete(key);
      entries.set(key, e);
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
    succeeded(address) {
      entries.delete(failureKey(address));
    },
    get size() {
      return entries.size;
    },
  };
}
