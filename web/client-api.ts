// The JSON API pktriot talks to on the server domain (besides the tunnel WebSockets):
// registration, key check, deauth, port allocation and status.
import { Hono, type Context } from "hono";
import type { Database } from "../db/client.ts";
import { deactivateAuthToken } from "../db/queries/auth-tokens.ts";
import { allocatePort, checkTunnelLogin, releasePort, type TunnelLogin } from "../db/queries/live.ts";
import { registerTunnel } from "../db/queries/tunnel-registration.ts";
import type { ServerConfig } from "../lib/config/server-config.ts";
import { errorMessage } from "../lib/errors.ts";
import { bearerToken } from "../lib/http/bearer.ts";

export interface LiveTunnels {
  isOnline(tunnelId: string): boolean;
  /** The rules the online client announced, or undefined when offline. */
  announced(tunnelId: string): { https: unknown[]; ports: unknown[] } | undefined;
  disconnect(tunnelId: string, reason: string): void;
}

export interface ClientApiDeps {
  db: Database;
  config(): ServerConfig;
  live: LiveTunnels;
}

type Env = { Variables: { login: TunnelLogin } };

const fail = (c: Context, status: 400 | 401 | 403 | 404 | 409 | 500, error: string) => c.json({ status: false, error }, status);

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  try {
    const v = await c.req.json();
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export function createClientApi(deps: ClientApiDeps) {
  const app = new Hono<Env>();
  app.onError((err, c) => fail(c, 500, `internal error: ${errorMessage(err)}`));

  app.post("/register", async (c) => {
    const body = await jsonBody(c);
    const token = typeof body.token === "string" ? body.token.trim() : "";
    if (!token) return fail(c, 400, "registration token is required");
    const cfg = deps.config();
    const result = await registerTunnel(
      deps.db,
      { registrationToken: token, userName: typeof body.id === "string" ? body.id : "", hostname: typeof body.hostname === "string" ? body.hostname : "" },
      { autoHostnames: cfg.tunOptions.autoHostnames, domain: cfg.domain },
    );
    if (!result.ok) return fail(c, 403, result.reason);
    return c.json({ status: true, key: result.key, tunnelID: result.tunnelId, hostname: result.hostname });
  });

  // Everything below needs a tunnel's auth token.
  app.use("*", async (c, next) => {
    const key = bearerToken(c.req.header("authorization"));
    if (!key) return fail(c, 401, "missing auth token (Authorization: Bearer <key>)");
    const check = await checkTunnelLogin(deps.db, key);
    if (!check.ok) return fail(c, 403, check.reason);
    c.set("login", check.login);
    await next();
  });

  // `domain` lets quick mode (`pktriot http PORT`) name a temporary site `<random>.<domain>`.
  app.post("/auth", (c) => {
    const login = c.get("login");
    return c.json({ status: true, tunnelID: login.tunnelId, hostname: login.hostname, domain: deps.config().domain });
  });

  app.post("/deauth", async (c) => {
    const login = c.get("login");
    await deactivateAuthToken(deps.db, login.tokenId);
    deps.live.disconnect(login.tunnelId, "auth token deactivated");
    return c.json({ status: true });
  });

  app.post("/ports/allocate", async (c) => {
    const login = c.get("login");
    const cfg = deps.config();
    const r = await allocatePort(deps.db, { id: login.tunnelId, userId: login.userId }, cfg.portRange, cfg.tunOptions.maxPorts);
    if (!r.ok) return fail(c, 409, r.reason);
    return c.json({ status: true, port: r.port });
  });

  app.post("/ports/release", async (c) => {
    const login = c.get("login");
    const body = await jsonBody(c);
    const port = Number(body.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return fail(c, 400, "port must be an integer between 1 and 65535");
    if (!(await releasePort(deps.db, login.tunnelId, port))) return fail(c, 404, `port ${port} is not allocated to this tunnel`);
    return c.json({ status: true });
  });

  app.get("/status", (c) => {
    const login = c.get("login");
    const rules = deps.live.announced(login.tunnelId);
    return c.json({
      status: true,
      tunnelID: login.tunnelId,
      hostname: login.hostname,
      online: deps.live.isOnline(login.tunnelId),
      https: rules?.https ?? [],
      ports: rules?.ports ?? [],
    });
  });

  return app;
}
