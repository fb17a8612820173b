// A visitor that uploads a bulk payload through a tunnel port (memory tests).
import { connect } from "node:net";
import { tcpUpstream } from "./_tunnel-harness.ts";

/** Sends `bytes` to `host:port` as fast as back-pressure allows, then half-closes; resolves at the peer's end. */
export function upload(host: string, port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, allowHalfOpen: true });
    sock.setNoDelay(true);
    const chunk = new Uint8Array(256 * 1024).fill(0x42);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!sock.write(chunk)) return;
      }
      sock.end();
    };
    sock.on("connect", pump);
    sock.on("drain", pump);
    sock.on("data", () => {});
    sock.on("end", () => {
      sock.destroy();
      resolve();
    });
    sock.on("error", reject);
  });
}

/** An upstream that writes to each connection as fast as it is read, counting what it wrote (beside a visitor that never reads). */
export function firehoseUpstream(wrote: (bytes: number) => void) {
  return tcpUpstream((s) => {
    const chunk = new Uint8Array(64 * 1024).fill(0x5a);
    const pump = () => {
      while (!s.destroyed && s.write(chunk)) wrote(chunk.length);
      if (!s.destroyed) wrote(chunk.length);
    };
    s.on("drain", pump);
    pump();
  });
}

/** An upstream that reads everything, counting it, and ends when the visitor does. */
export function sinkUpstream(received: (bytes: number) => void) {
  return tcpUpstream((s) => {
    s.on("data", (c: Buffer) => received(c.length));
    s.on("end", () => s.end());
  });
}
