/** @jsxImportSource hono/jsx */
// The dashboard (SPEC 2.3 "Dashboard"): server-rendered pages behind a login. Static
// assets and the login/setup/2FA pages are public; everything else needs a full
// dashboard session, and every POST a CSRF token bound to that session.
import { Hono } from "hono";
import { jsxRenderer } from "hono/jsx-renderer";
import { secureHeaders } from "hono/secure-headers";
import { findSession } from "../db/queries/sessions.ts";
import { findUserById } from "../db/queries/users.ts";
import appCss from "./assets/app.css" with { type: "text" };
import { APP_SCRIPT as appJs } from "./assets/app-script.ts";
import { DASHBOARD_COOKIE, clearCookie, safeEqual, sameOrigin, sessionToken, type WebEnv, type WebShared } from "./context.ts";
import { createAccountPages } from "./pages/account.tsx";
import { createApiKeyPages } from "./pages/api-keys.tsx";
import { createAuthPages } from "./pages/auth.tsx";
import { createOverviewPages } from "./pages/overview.tsx";
import { createSettingsPages } from "./pages/settings.tsx";
import { createTokenPages } from "./pages/tokens.tsx";
import { createTunnelPages } from "./pages/tunnels.tsx";
import { Layout } from "./views/layout.tsx";
import { MessageView } from "./views/auth.tsx";

declare module "hono" {
  interface ContextRenderer {
    (content: string | Promise<string>, props: { title: string; narrow?: boolean }): Response | Promise<Response>;
  }
}

const ASSET_HEADERS = { "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff" };

export function createDashboard(shared: WebShared) {
  const { deps } = shared;
  const app = new Hono<WebEnv>();

  app.get("/static/app.css", (c) => c.body(appCss, 200, { ...ASSET_HEADERS, "Content-Type": "text/css; charset=utf-8" }));
  app.get("/favicon.ico", (c) => c.body(null, 204, ASSET_HEADERS));
  app.get("/static/app.js", (c) => c.body(appJs, 200, { ...ASSET_HEADERS, "Content-Type": "text/javascript; charset=utf-8" }));

  app.use(
    "*",
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        styleSrc: ["'self'"],
        scriptSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      referrerPolicy: "same-origin",
    }),
  );
  app.use("*", async (c, next) => {
    c.header("Cache-Control", "no-store");
    await next();
  });
  app.use(
    "*",
    jsxRenderer(({ children, title, narrow }, c) => {
      const user = c.get("user") as WebEnv["Variables"]["user"] | undefined;
      const csrf = c.get("csrf") as string | undefined;
      const nav = user && csrf ? { current: new URL(c.req.url).pathname, csrf, email: user.email } : undefined;
      return (
        <Layout title={title} narrow={narrow} nav={nav}>
          {children}
        </Layout>
      );
    }),
  );

  app.route("/", createAuthPages(shared));

  // Everything below needs a full session.
  app.use("*", async (c, next) => {
    const token = sessionToken(c, DASHBOARD_COOKIE);
    const session = await findSession(deps.db, token, shared.now());
    const user = session?.kind === "dashboard" && !session.pending2fa && session.userId ? await findUserById(deps.db, session.userId) : undefined;
    if (!session || !user?.isAdmin) {
      // A cookie that opens no session (expired, logged out) is dropped; a login waiting
      // for its second factor keeps its cookie (the browser fetches /favicon.ico meanwhile).
      if (token && !session) clearCookie(c, DASHBOARD_COOKIE);
      if (c.req.method === "GET" || c.req.method === "HEAD") {
        return c.redirect(session?.pending2fa ? "/login/2fa" : token ? "/login?m=expired" : "/login", 303);
      }
      return c.text("not signed in", 401);
    }
    c.set("session", session);
    c.set("user", user);
    c.set("csrf", session.csrfToken);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const body = await c.req.parseBody();
      const token = typeof body._csrf === "string" ? body._csrf : "";
      if (!sameOrigin(c) || !safeEqual(token, session.csrfToken)) {
        c.status(403);
        return c.render(<MessageView title="Request refused" message="The form was not sent from this dashboard, or it expired. Go back, reload the page and try again." link={["/", "Overview"]} />, {
          title: "Request refused",
        });
      }
    }
    await next();
  });

  app.route("/", createOverviewPages(shared));
  app.route("/tokens", createTokenPages(shared));
  app.route("/api-keys", createApiKeyPages(shared));
  app.route("/tunnels", createTunnelPages(shared));
  app.route("/account", createAccountPages(shared));
  app.route("/settings", createSettingsPages(shared));

  app.all("*", (c) => {
    c.status(404);
    return c.render(<MessageView title="Not found" message="There is no such page." link={["/", "Overview"]} />, { title: "Not found" });
  });
  return app;
}
