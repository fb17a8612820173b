// An in-memory DuplexConnection for engine tests: records what is written and how it was closed.
import type { DuplexConnection } from "../../../lib/net/connection.ts";

export class FakeConnection implements DuplexConnection {
  written: Uint8Array[] = [];
  ended = false;
  resets = 0;
  paused = true;
  /** write() answers this; flip it to exercise backpressure. */
  accept = true;
  ondata?: (bytes: Uint8Array) => void;
  onend?: () => void;
  onclose?: (error?: Error) => void;
  ondrain?: () => void;

  write(bytes: Uint8Array): boolean {
    this.written.push(new Uint8Array(bytes));
    return this.accept;
  }
  end(): void {
    this.ended = true;
  }
  reset(): void {
    this.resets++;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  /** Everything written so far, as one buffer. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.written.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.written) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
