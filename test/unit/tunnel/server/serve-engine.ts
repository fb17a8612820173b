// The tunnel server engine behind a plain Bun.serve on a free loopback port, for tests
// that drive it with the real client engine over a real WebSocket.
import type { TunnelServer } from "../../../../lib/tunnel/server/server.ts";

export function serveTunnelEngine(engine: TunnelServer, cleanups: (() => unknown)[]): { engine: TunnelServer; port: number } {
  const http = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (req, server) => (await engine.handle(req, server as never, "127.0.0.1")) ?? new Response("not found", { status: 404 }),
    websocket: engine.websocket as never,
  });
  cleanups.push(() => http.stop(true));
  cleanups.push(() => engine.closeAll("test over"));
  return { engine, port: http.port! };
}
