// Reconnect delays shared by the tunnel client and the cluster's peer links.

/** Exponential backoff with ±30 % jitter, so a fleet does not reconnect in lock step. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.7 + 0.6 * random()));
}
