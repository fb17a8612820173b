// Time as the engines see it. The tunnel client and server, and the mux sessions under
// them, take a Clock so tests step a fake one (keepalive, backoff, timeouts) instead of
// sleeping.

export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real time with ordinary timers: a pending reconnect keeps the process alive. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Runs `fn` every `ms` on the clock until the returned function is called. `unref`: a
 * real timer does not keep the process alive by itself (housekeeping, not work).
 */
export function every(clock: Clock, ms: number, fn: () => void, opts: { unref?: boolean } = {}): () => void {
  let handle: unknown;
  let stopped = false;
  const arm = () => {
    handle = clock.setTimeout(tick, ms);
    if (opts.unref) (handle as { unref?: () => void }).unref?.();
  };
  const tick = () => {
    if (stopped) return;
    arm();
    fn();
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
