// Ports for tests and benches, free of test-runner hooks (scripts import it too).
import { createServer } from "node:net";

/** Ports this process handed out: the kernel may offer a just-closed port again at once. */
const handedOut = new Set<number>();

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it), never one handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await new Promise<number>((res, rej) => {
      const srv = createServer();
      srv.unref();
      srv.on("error", rej);
      srv.listen(0, "127.0.0.1", () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => res(port));
      });
    });
    if (!handedOut.has(port) || attempt >= 50) {
      handedOut.add(port);
      return port;
    }
  }
}

/** A port range of 100 below the kernel's ephemeral range, so outgoing connections never take one;
 * random so concurrent test runs on one machine rarely collide. */
export function randomPortRange(): { begin: number; end: number } {
  const begin = 20_000 + Math.floor(Math.random() * 100) * 100;
  return { begin, end: begin + 99 };
}
