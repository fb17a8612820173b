// The web application on the server's own domain: the client API pktriot uses, the
// Admin JSON API, and the dashboard. `createWebApp(deps)` is all the server wires.
import { Hono } from "hono";
import { ACME_CHALLENGE_PREFIX } from "../lib/acme/challenge-store.ts";
import { CLIENT_API_BASE } from "../lib/client-api/paths.ts";
import { ADMIN_API_BASE, createAdminApi } from "./api/admin.ts";
import { createClientApi } from "./client-api.ts";
import type { WebEnv, WebShared } from "./context.ts";
import { createDashboard } from "./dashboard.tsx";
import type { WebAppDeps } from "./deps.ts";
import { defaultRateLimits, type WebRateLimits } from "./security/rate-limit.ts";

export type { WebAppDeps } from "./deps.ts";

export interface WebAppOptions {
  /** Attempt limits (tests pass small ones). */
  limits?: WebRateLimits;
}

export function createWebApp(deps: WebAppDeps, opts: WebAppOptions = {}) {
  const now = deps.now ?? Date.now;
  const shared: WebShared = {
    deps,
    now,
    limits: opts.limits ?? defaultRateLimits(now),
    adminSecret: deps.adminSecret ?? (() => process.env.ADMIN_SECRET || undefined),
  };
  const app = new Hono<WebEnv>();
  // RFC 8555 8.3: the body is the key authorization, as plain text. Only the edge's
  // plain-HTTP server passes this path on; an unknown token is a plain 404.
  app.get(`${ACME_CHALLENGE_PREFIX}:token`, (c) => {
    const answer = deps.acmeChallenges?.get(c.req.param("token"));
    return answer === undefined ? c.text("not found", 404) : c.text(answer);
  });
  // The APIs first: each answers every path under its base, so the dashboard's login
  // redirect never applies to them.
  app.route(CLIENT_API_BASE, createClientApi(deps));
  app.all(`${CLIENT_API_BASE}/*`, (c) => c.json({ status: false, error: "not found" }, 404));
  app.route(ADMIN_API_BASE, createAdminApi(shared));
  app.route("/", createDashboard(shared));
  return app;
}
