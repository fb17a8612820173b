// A visitor that uploads a bulk payload through a tunnel port (memory tests).
import { connect } from "node:net";

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
