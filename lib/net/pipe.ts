/**
 * Joins two DuplexConnections both ways with backpressure and half-close, and
 * closes each exactly once. Works for any pair of the shape (TCP socket, tunnel
 * stream), so there is one relay loop for every engine.
 */
import type { DuplexConnection } from "./connection.ts";

export interface PipeOptions {
  /** Bytes already read from `a` (e.g. sent right after a SOCKS request) to send to `b` first. */
  initialAtoB?: Uint8Array;
  /** Bytes already read from `b` (e.g. after a tunnel status byte) to send to `a` first. */
  initialBtoA?: Uint8Array;
  /**
   * After one side has closed cleanly, how long the other may take to finish
   * before it is reset, so a peer that never closes cannot pin the pair forever.
   */
  lingerMs?: number;
}

export interface PipeResult {
  /** Bytes carried from a to b, including initialAtoB (and initialBtoA for the other way). */
  bytesAtoB: number;
  bytesBtoA: number;
  /** The first abrupt-close error seen on either side, if any. */
  error?: Error;
}

export function pipe(a: DuplexConnection, b: DuplexConnection, opts: PipeOptions = {}): Promise<PipeResult> {
  const lingerMs = opts.lingerMs ?? 10_000;
  const result: PipeResult = { bytesAtoB: 0, bytesBtoA: 0 };
  return new Promise((resolve) => {
    let aClosed = false;
    let bClosed = false;
    let linger: ReturnType<typeof setTimeout> | undefined;

    const finish = () => {
      if (!aClosed || !bClosed) return;
      if (linger) clearTimeout(linger);
      resolve(result);
    };

    const join = (src: DuplexConnection, dst: DuplexConnection, count: (n: number) => void) => {
      // A socket read is handed over whole: dst frees it once sent or copied.
      const release = src.freshReads === true;
      src.ondataCopies = dst.copiesWrites === true;
      src.ondata = (bytes) => {
        count(bytes.length);
        // Backpressure: stop reading src until dst's queue has drained.
        if (!dst.write(bytes, release)) src.pause();
      };
      dst.ondrain = () => src.resume();
      // Half-close travels through: the peer of dst sees EOF, and dst's other
      // direction keeps flowing until it ends too.
      src.onend = () => dst.end();
    };

    const onClosed = (other: DuplexConnection, otherClosed: () => boolean) => (error?: Error) => {
      if (error && !result.error) result.error = error;
      if (!otherClosed()) {
        if (error) other.reset();
        else {
          other.end();
          linger ??= setTimeout(() => other.reset(), lingerMs);
        }
      }
    };

    join(a, b, (n) => (result.bytesAtoB += n));
    join(b, a, (n) => (result.bytesBtoA += n));
    const closeA = onClosed(b, () => bClosed);
    const closeB = onClosed(a, () => aClosed);
    a.onclose = (error) => {
      aClosed = true;
      closeA(error);
      finish();
    };
    b.onclose = (error) => {
      bClosed = true;
      closeB(error);
      finish();
    };

    // Bytes already in hand go first; until they drain, the side that would add
    // more behind them stays paused.
    const prime = (bytes: Uint8Array | undefined, dst: DuplexConnection, count: (n: number) => void): boolean => {
      if (!bytes || bytes.length === 0) return true;
      count(bytes.length);
      return dst.write(bytes);
    };
    const aReady = prime(opts.initialAtoB, b, (n) => (result.bytesAtoB += n));
    const bReady = prime(opts.initialBtoA, a, (n) => (result.bytesBtoA += n));
    if (bReady) b.resume();
    if (aReady) a.resume();
  });
}
