// What the TCP upstreams of the pipe tests and of scripts/bench-mux.ts share: writing a
// queue of chunks to a Bun socket that may take only part of one.
import type { Socket } from "bun";

/** Writes queued chunks until the socket takes less than offered; true when the queue is empty. */
export function flushPending(s: Socket<{ pending: Uint8Array[] }>): boolean {
  while (s.data.pending.length) {
    const c = s.data.pending[0]!;
    const n = s.write(c);
    if (n < c.byteLength) {
      s.data.pending[0] = c.subarray(Math.max(n, 0));
      return false;
    }
    s.data.pending.shift();
  }
  return true;
}
