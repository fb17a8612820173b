// Relays an accepted public connection to a listener of our own on 127.0.0.1 (the
// dashboard/API/tunnel endpoint, or the TLS terminator for tunnel domains). The inner
// server only sees 127.0.0.1:<ephemeral port>, so the relay remembers which public
// address each ephemeral port stands for.
import { dialTcp } from "../net/dial-tcp.ts";
import { pipe } from "../net/pipe.ts";
import type { DuplexConnection } from "../net/connection.ts";

export interface LoopbackRelay {
  /** Connects to 127.0.0.1:port and pipes `conn` (plus `initial` bytes) to it. */
  relay(conn: DuplexConnection, remote: string, port: number, initial?: Uint8Array): Promise<void>;
  /** The public address behind an inner connection's source port (or undefined). */
  remoteFor(localPort: number): string | undefined;
}

export function createLoopbackRelay(): LoopbackRelay {
  const remotes = new Map<number, string>();
  return {
    async relay(conn, remote, port, initial) {
      const dialled = await dialTcp("127.0.0.1", port, { timeoutMs: 5000 });
      if (!dialled.ok) {
        conn.reset();
        return;
      }
      const srcPort = dialled.bound?.port ?? 0;
      if (srcPort) remotes.set(srcPort, remote);
      try {
        await pipe(conn, dialled.connection, { initialAtoB: initial });
      } finally {
        if (srcPort && remotes.get(srcPort) === remote) remotes.delete(srcPort);
      }
    },
    remoteFor: (localPort) => remotes.get(localPort),
  };
}
