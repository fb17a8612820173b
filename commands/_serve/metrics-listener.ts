// The `listen.metrics` listener: plain HTTP for Prometheus and load balancers, apart from
// the public ports. `/metrics` needs `Authorization: Bearer <listen.metricsToken>` when a
// token is configured; `/healthz` never needs one.
import type { Registry } from "prom-client";
import { parseHostPort } from "../../lib/config/server-config.ts";
import { bearerToken } from "../../lib/http/bearer.ts";
import { sameSecret } from "../../lib/http/same-secret.ts";

export interface MetricsListenerOptions {
  /** "ADDRESS:PORT" (validated by the config loader). */
  at: string;
  token: string;
  registry: Registry;
  health(): Promise<Response>;
}

export function startMetricsListener(opts: MetricsListenerOptions): { port: number; stop(): void } {
  const { address, port } = parseHostPort(opts.at)!;
  const server = Bun.serve({
    hostname: address,
    port,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
      if (path === "/healthz") return opts.health();
      if (path !== "/metrics") return new Response("not found\n", { status: 404 });
      if (opts.token && !sameSecret(bearerToken(req.headers.get("authorization")), opts.token)) {
        return new Response("unauthorized\n", { status: 401, headers: { "www-authenticate": 'Bearer realm="metrics"' } });
      }
      return new Response(await opts.registry.metrics(), { headers: { "content-type": opts.registry.contentType } });
    },
  });
  return { port: server.port!, stop: () => server.stop(true) };
}
