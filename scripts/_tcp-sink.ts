// What bench-mux and bench-mesh share: an upload to a TCP sink that answers the byte
// count it received at EOF, so a run proves every byte arrived.
import type { Socket } from "bun";

/**
 * Sends `bytes` (copies of `chunk`, the last one cut) on one connection, honouring
 * backpressure, half-closes, and waits for the sink's count. Resolves with the seconds
 * from connect to the count; rejects when the count is not `bytes`.
 */
export function uploadToSink(port: number, bytes: number, chunk: Uint8Array, hostname = "127.0.0.1"): Promise<{ seconds: number }> {
  return new Promise((resolveRun, reject) => {
    let sent = 0;
    let reply = "";
    let t0 = 0;
    const dec = new TextDecoder();
    const pump = (s: Socket<undefined>) => {
      while (sent < bytes) {
        const want = Math.min(chunk.length, bytes - sent);
        const n = s.write(want === chunk.length ? chunk : chunk.subarray(0, want));
        if (n <= 0) return;
        sent += n;
        // A short write: wait for drain (the content does not matter for a count, so the next write starts a fresh chunk).
        if (n < want) return;
      }
      s.shutdown();
    };
    void Bun.connect({
      hostname,
      port,
      allowHalfOpen: true,
      socket: {
        open(s) {
          t0 = performance.now();
          s.setNoDelay(true);
          pump(s);
        },
        drain: pump,
        data(_s, d) {
          reply += dec.decode(d, { stream: true });
        },
        close(_s, err) {
          if (err) return reject(err);
          const got = Number(reply.trim());
          if (got !== bytes) reject(new Error(`sink received ${got} of ${bytes} bytes`));
          else resolveRun({ seconds: (performance.now() - t0) / 1000 });
        },
        connectError(_s, err) {
          reject(err);
        },
      },
    }).catch(reject);
  });
}
