// The sessions of one tunnel: the client opens up to maxPoolSize WebSocket data
// connections, each its own MuxSession. New streams go to the least loaded session.
import { MuxError } from "./errors.ts";
import type { MuxSession } from "./session.ts";
import type { MuxStream } from "./stream.ts";

export interface MuxPoolOptions {
  /** add() refuses sessions beyond this many (default: unlimited). */
  maxSize?: number;
}

export class MuxPool {
  private readonly list: MuxSession[] = [];
  private rr = 0;
  readonly maxSize: number;

  constructor(opts: MuxPoolOptions = {}) {
    this.maxSize = opts.maxSize ?? Infinity;
  }

  /** Live sessions (closed ones are dropped as they are noticed). */
  get size(): number {
    this.prune();
    return this.list.length;
  }

  get sessions(): readonly MuxSession[] {
    this.prune();
    return this.list;
  }

  /** Total open streams over the pool. */
  get streamCount(): number {
    let n = 0;
    for (const s of this.sessions) n += s.streamCount;
    return n;
  }

  /** Adds a session; false when the pool is full or the session is already closed. */
  add(session: MuxSession): boolean {
    this.prune();
    if (session.closed || this.list.includes(session)) return false;
    if (this.list.length >= this.maxSize) return false;
    this.list.push(session);
    return true;
  }

  remove(session: MuxSession): boolean {
    const i = this.list.indexOf(session);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  /**
   * The open session with the fewest streams (ties rotate, so an idle pool still spreads),
   * or undefined when none can take a stream.
   */
  pick(): MuxSession | undefined {
    this.prune();
    const n = this.list.length;
    let best: MuxSession | undefined;
    for (let k = 0; k < n; k++) {
      const s = this.list[(this.rr + k) % n]!;
      if (s.goingAway) continue;
      if (best === undefined || s.streamCount < best.streamCount) best = s;
    }
    this.rr = n > 0 ? (this.rr + 1) % n : 0;
    return best;
  }

  /** Opens a stream on the least loaded session. Throws MuxError NOT_OPEN when the pool has none. */
  openStream(meta?: Uint8Array): MuxStream {
    const s = this.pick();
    if (s === undefined) throw new MuxError("NOT_OPEN", "no open tunnel connection");
    return s.openStream(meta);
  }

  /** Closes every session (GOAWAY) and empties the pool. */
  closeAll(reason = "pool closed"): void {
    const all = this.list.splice(0);
    for (const s of all) s.close(reason);
  }

  private prune(): void {
    for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i]!.closed) this.list.splice(i, 1);
  }
}

export function createMuxPool(opts?: MuxPoolOptions): MuxPool {
  return new MuxPool(opts);
}
