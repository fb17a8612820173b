// The Admin JSON API (SPEC 2.3), wire-compatible with the original Spokes Admin API:
// same paths under /api/admin/v1.0/, same field names and types, `status` (+ `error`)
// in every response. One sub-app per resource, mounted here behind the JSON-header and
// authentication checks.
import { Hono, type Context } from "hono";
import { verifyAdminApiKey } from "../../db/queries/admin-api-keys.ts";
import { findAuthTokenByTunnel } from "../../db/queries/auth-tokens.ts";
import { listPortAllocations } from "../../db/queries/ports.ts";
import {
  createRegistrationToken,
  deleteRegistrationToken,
  listRegistrationTokens,
  updateRegistrationToken,
} from "../../db/queries/registration-tokens.ts";
import { createSession, deleteSession, findSession, type SessionRow } from "../../db/queries/sessions.ts";
import { cachedTunnelConfig, searchTunnels, type TunnelSearch } from "../../db/queries/tunnel-details.ts";
import { getTunnel, listTunnels, shutdownTunnel, type TunnelInfo } from "../../db/queries/tunnels.ts";
import { UserError, errorMessage } from "../../lib/errors.ts";
import { VERSION } from "../../lib/version.ts";
import { API_COOKIE, API_SESSION_MS, DASHBOARD_COOKIE, clearCookie, remoteAddress, sessionToken, setSessionCookie, type WebEnv, type WebShared } from "../context.ts";
import { runRemoteChange } from "../remote.ts";
import { bearerToken } from "../../lib/http/bearer.ts";
import { createPageCache, DEFAULT_PAGE_TTL_MS, type PageLink } from "./page-cache.ts";
import { tokenJson, tunnelJson, tunnelsWithDetails, type TunnelJson } from "./objects.ts";

export const ADMIN_API_BASE = "/api/admin/v1.0";

type Status = 400 | 401 | 403 | 404 | 406 | 409 | 415 | 429 | 500 | 501 | 502;
type ApiEnv = WebEnv & { Variables: WebEnv["Variables"] & { body: Record<string, unknown>; apiSession?: SessionRow } };
type Ctx = Context<ApiEnv>;

export const fail = (c: Context, status: Status, error: string) => c.json({ status: false, error }, status);

/** A UserError from the queries (unknown or malformed id) is the caller's mistake: 404 or 400. */
function userFail(c: Context, err: unknown) {
  if (!(err instanceof UserError)) throw err;
  return fail(c, /^malformed /.test(err.message) ? 400 : 404, err.message);
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  return typeof v === "string" ? v : "";
}

function pageTtl(shared: WebShared): number {
  const fromEnv = Number(process.env.SPOKES_PAGE_TTL_MS);
  return shared.deps.pageTtlMs ?? (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_PAGE_TTL_MS);
}

export function createAdminApi(shared: WebShared) {
  const { deps, limits } = shared;
  const db = deps.db;
  const app = new Hono<ApiEnv>();
  const appStarted = shared.now();
  const pages = createPageCache<TunnelJson>({ db, basePath: `${ADMIN_API_BASE}/tunnel/page`, ttlMs: pageTtl(shared), now: shared.now });

  app.onError((err, c) => fail(c, 500, `internal error: ${errorMessage(err)}`));
  app.notFound((c) => fail(c, 404, `unknown endpoint ${c.req.method} ${new URL(c.req.url).pathname}`));

  // Requests and responses are JSON (SPEC 2.3); existing clients send both headers on GET
  // too, with the body `null`.
  app.use("*", async (c, next) => {
    const accept = c.req.header("accept") ?? "";
    const type = c.req.header("content-type") ?? "";
    if (!/application\/json/i.test(accept)) return fail(c, 406, "requests must send the header Accept: application/json");
    if (!/^application\/json\b/i.test(type)) return fail(c, 415, "requests must send the header Content-Type: application/json");
    let body: Record<string, unknown> = {};
    const text = await c.req.text();
    if (text.trim()) {
      if (text.length > 1 << 20) return fail(c, 400, "request body is larger than 1 MiB");
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return fail(c, 400, "request body is not valid JSON");
      }
      if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) return fail(c, 400, "request body must be a JSON object");
      body = (parsed as Record<string, unknown> | null) ?? {};
    }
    c.set("body", body);
    await next();
  });

  app.post("/auth", async (c) => {
    const addr = remoteAddress(c);
    const key = str(c.get("body"), "key").trim();
    if (!limits.apiAuthPerAddress.hit(`api:${addr}`).ok) return tooMany(c, limits.apiAuthPerAddress.check(`api:${addr}`).retryAfter);
    if (!key) return fail(c, 400, "key is required");
    const keyBucket = `key:${key.slice(0, 8)}`;
    if (!limits.apiAuthPerKey.check(keyBucket).ok) return tooMany(c, limits.apiAuthPerKey.check(keyBucket).retryAfter);
    const info = await verifyAdminApiKey(db, key);
    if (!info) {
      limits.apiAuthPerKey.hit(keyBucket);
      return fail(c, 401, "invalid or revoked API key");
    }
    const { token } = await createSession(db, { kind: "api", apiKeyId: info.id, ttlMs: API_SESSION_MS, now: shared.now() });
    setSessionCookie(c, API_COOKIE, token, API_SESSION_MS);
    return c.json({ status: true, message: "User authenticated" });
  });

  // Logout ends the API session named by the cookie (it needs no other authentication).
  app.get("/logout", async (c) => {
    const session = await findSession(db, sessionToken(c, API_COOKIE), shared.now());
    clearCookie(c, API_COOKIE);
    if (!session || session.kind !== "api") return fail(c, 401, "no session to end (not logged in, or the session expired)");
    await deleteSession(db, session.id);
    return c.json({ status: true, message: "Session ended" });
  });

  // Every other endpoint: an API session cookie, a dashboard session, or a Bearer key.
  app.use("*", async (c, next) => {
    const apiSession = await findSession(db, sessionToken(c, API_COOKIE), shared.now());
    if (apiSession?.kind === "api") {
      c.set("apiSession", apiSession);
      return next();
    }
    const dash = await findSession(db, sessionToken(c, DASHBOARD_COOKIE), shared.now());
    if (dash?.kind === "dashboard" && !dash.pending2fa) return next();
    const bearer = bearerToken(c.req.header("authorization"));
    if (bearer) {
      const addr = remoteAddress(c);
      if (!limits.apiAuthPerAddress.check(`api:${addr}`).ok) return tooMany(c, limits.apiAuthPerAddress.check(`api:${addr}`).retryAfter);
      if (await verifyAdminApiKey(db, bearer)) return next();
      limits.apiAuthPerAddress.hit(`api:${addr}`);
      return fail(c, 401, "invalid or revoked API key");
    }
    return fail(c, 401, "not authenticated: POST auth with an admin API key first (or the session expired)");
  });

  app.get("/ping", (c) => c.json({ status: true, message: "pong" }));
  app.get("/keepalive", (c) => c.json({ status: true, message: "session alive" }));

  app.get("/info", async (c) => {
    const active = await listTunnels(db);
    return c.json({
      status: true,
      version: VERSION,
      uptime: Math.floor((shared.now() - (deps.startedAt ?? appStarted)) / 1000),
      alerts: 0,
      activeTuns: active.length,
      onlineTuns: active.filter((t) => t.online).length,
      maxTuns: 0,
    });
  });

  // No license in this product (SPEC 2.3): no tunnel limit, never expires.
  app.get("/license/info", (c) => c.json({ status: true, maxTunnels: 0, expires: "9999-12-31T23:59:59Z" }));

  app.route("/token/registration", registrationTokensApi(shared));
  app.route("/tunnel", tunnelsApi(shared, pages));
  app.route("/port", portsApi(shared));
  app.all("*", (c) => fail(c, 404, `unknown endpoint ${c.req.method} ${new URL(c.req.url).pathname}`));
  return app;

  function tooMany(c: Ctx, retryAfter: number) {
    c.header("Retry-After", String(retryAfter));
    return fail(c, 429, `too many attempts, try again in ${retryAfter} s`);
  }
}

function registrationTokensApi(shared: WebShared) {
  const db = shared.deps.db;
  const app = new Hono<ApiEnv>();

  app.get("/list", async (c) => c.json({ status: true, tokens: (await listRegistrationTokens(db)).map(tokenJson) }));

  app.post("/create", async (c) => {
    const body = c.get("body");
    if (body.active !== undefined && typeof body.active !== "boolean") return fail(c, 400, "active must be true or false");
    if (body.description !== undefined && typeof body.description !== "string") return fail(c, 400, "description must be a string");
    const token = await createRegistrationToken(db, { description: str(body, "description"), active: body.active === undefined ? true : (body.active as boolean) });
    return c.json({ status: true, token: tokenJson(token) });
  });

  app.post("/edit", async (c) => {
    const body = c.get("body");
    const id = str(body, "tokenID");
    if (!id) return fail(c, 400, "tokenID is required");
    if (body.active !== undefined && typeof body.active !== "boolean") return fail(c, 400, "active must be true or false");
    if (body.description !== undefined && typeof body.description !== "string") return fail(c, 400, "description must be a string");
    try {
      const token = await updateRegistrationToken(db, id, {
        ...(typeof body.description === "string" && { description: body.description }),
        ...(typeof body.active === "boolean" && { active: body.active }),
      });
      return c.json({ status: true, token: tokenJson(token) });
    } catch (err) {
      return userFail(c, err);
    }
  });

  app.post("/delete", async (c) => {
    const id = str(c.get("body"), "tokenID");
    if (!id) return fail(c, 400, "tokenID is required");
    try {
      await deleteRegistrationToken(db, id);
      return c.json({ status: true, message: "Token deleted" });
    } catch (err) {
      return userFail(c, err);
    }
  });
  return app;
}

function tunnelsApi(shared: WebShared, pages: ReturnType<typeof createPageCache<TunnelJson>>) {
  const { deps } = shared;
  const db = deps.db;
  const app = new Hono<ApiEnv>();

  const respond = async (c: Ctx, list: TunnelInfo[]) => {
    const details = c.req.query("details") === "true";
    const json = details ? await tunnelsWithDetails(db, list, shared.now()) : list.map(tunnelJson);
    const paged = await pages.paginate(json);
    return c.json({ status: true, total: paged.total, tunnels: paged.items, links: paged.links satisfies PageLink[] });
  };

  app.get("/list", async (c) => respond(c, await searchTunnels(db, { scope: "visible", now: shared.now() })));
  app.get("/list/active", async (c) => respond(c, await searchTunnels(db, { scope: "active", now: shared.now() })));
  app.get("/list/online", async (c) => respond(c, await searchTunnels(db, { scope: "online", now: shared.now() })));

  app.post("/search", async (c) => {
    const body = c.get("body");
    for (const k of ["term", "os", "arch", "version"]) {
      if (body[k] !== undefined && body[k] !== null && typeof body[k] !== "string") return fail(c, 400, `${k} must be a string`);
    }
    const q: TunnelSearch = { term: str(body, "term"), os: str(body, "os"), arch: str(body, "arch"), version: str(body, "version"), scope: "visible", now: shared.now() };
    return respond(c, await searchTunnels(db, q));
  });

  app.get("/page/:uid", async (c) => {
    const page = await pages.page(c.req.param("uid"));
    if (!page) return fail(c, 404, `no page ${c.req.param("uid")}: page sets expire ${Math.round(pageTtl(shared) / 1000)} s after the listing; list the tunnels again`);
    return c.json({ status: true, total: page.total, tunnels: page.items, links: page.links });
  });

  app.get("/info/:id", async (c) => {
    try {
      const t = await getTunnel(db, c.req.param("id"), shared.now());
      const [tunnel] = await tunnelsWithDetails(db, [t], shared.now());
      return c.json({ status: true, tunnel });
    } catch (err) {
      return userFail(c, err);
    }
  });

  app.get("/auth/:id", async (c) => {
    try {
      await getTunnel(db, c.req.param("id"));
      const token = await findAuthTokenByTunnel(db, c.req.param("id"));
      if (!token) return fail(c, 404, `tunnel ${c.req.param("id")} has no auth token`);
      return c.json({ status: true, token: tokenJson(token) });
    } catch (err) {
      return userFail(c, err);
    }
  });

  app.get("/config/:id", async (c) => {
    const id = c.req.param("id");
    try {
      await getTunnel(db, id);
      const live = (await deps.live.tunnel?.(id))?.config;
      const config = live && typeof live === "object" ? live : await cachedTunnelConfig(db, id);
      return c.json({ status: true, config });
    } catch (err) {
      return userFail(c, err);
    }
  });

  app.get("/shutdown/:id", async (c) => {
    const id = c.req.param("id");
    try {
      await shutdownTunnel(db, id);
      deps.live.disconnect(id, "tunnel shut down by an admin");
      return c.json({ status: true, message: "Tunnel shut down" });
    } catch (err) {
      return userFail(c, err);
    }
  });

  // Remote traffic management (the original client puts the tunnel id last).
  const traffic = new Hono<ApiEnv>();
  const remote = async (c: Ctx, request: Record<string, unknown>) => {
    const r = await runRemoteChange(deps, c.req.param("id") ?? "", request);
    if (!r.ok) return fail(c, r.status, r.error);
    return r.ports ? c.json({ status: true, ports: r.ports }) : c.json({ status: true, message: "Change applied" });
  };
  traffic.post("/http/update/:id", (c) => remote(c, { kind: "http/update", sites: c.get("body").sites }));
  traffic.post("/http/remove/:id", (c) => remote(c, { kind: "http/remove", domains: c.get("body").domains }));
  traffic.get("/tcp/allocate/:id", (c) => remote(c, { kind: "tcp/allocate" }));
  traffic.post("/tcp/release/:id", (c) => remote(c, { kind: "tcp/release", port: c.get("body").port }));
  traffic.post("/tcp/update/:id", (c) => remote(c, { kind: "tcp/update", ports: c.get("body").ports }));
  traffic.post("/tcp/reset/:id", (c) => remote(c, { kind: "tcp/reset", ports: c.get("body").ports }));
  traffic.post("/portmap/update/:id", (c) => remote(c, { kind: "portmap/update", portmaps: c.get("body").portmaps }));
  traffic.post("/portmap/remove/:id", (c) => remote(c, { kind: "portmap/remove", listenPorts: c.get("body").listenPorts }));
  app.route("/traffic", traffic);
  return app;
}

function portsApi(shared: WebShared) {
  const app = new Hono<ApiEnv>();
  app.get("/list", async (c) => {
    const ports = await listPortAllocations(shared.deps.db, { now: shared.now() });
    return c.json({ status: true, ports: ports.map((p) => ({ port: p.port, tunID: p.tunID })) });
  });
  app.get("/range", (c) => {
    const r = shared.deps.config().portRange;
    return c.json({ status: true, range: { begin: r.begin, end: r.end } });
  });
  return app;
}

