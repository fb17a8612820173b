/**
 * Per-address limit on failed SOCKS authentications (a token guesser gets a handful of
 * tries per window, then every attempt fails without reaching the token check).
 * A windowed counter (lib/rate/windowed-counter.ts), so memory stays bounded: past
 * `maxEntries` addresses the least recently failed one is forgotten. IPv6 peers are
 * counted per /64, the block one subscriber usually holds.
 */
import { createWindowedCounter } from "../rate/windowed-counter.ts";
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
  const failures = createWindowedCounter({ windowMs: opts.windowMs ?? 60_000, maxKeys: opts.maxEntries ?? 10_000, now: opts.now });
  return {
    blocked: (address) => (failures.get(failureKey(address))?.count ?? 0) >= maxFailures,
    failed: (address) => void failures.add(failureKey(address)),
    succeeded: (address) => failures.delete(failureKey(address)),
    get size() {
      return failures.size;
    },
  };
}
