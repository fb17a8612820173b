// The Hono environment shared by the dashboard and the Admin API, and the cookie and
// CSRF helpers both use.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { randomBytes, timingSafeEqual, createHash } from "node:crypto";
import type { SessionRow } from "../db/queries/sessions.ts";
import type { UserRow } from "../db/queries/users.ts";
import type { WebAppDeps } from "./deps.ts";
import type { WebRateLimits } from "./security/rate-limit.ts";

export interface WebEnv {
  /** `app.fetch(req, { remote })`: the client's real address (the HTTPS front door keeps it). */
  Bindings: { remote?: string };
  Variables: {
    session: SessionRow;
    user: UserRow;
    /** The CSRF token forms on this page must send back. */
    csrf: string;
  };
}

export interface WebShared {
  deps: WebAppDeps;
  limits: WebRateLimits;
  now: () => number;
  adminSecret: () => string | undefined;
}

export const DASHBOARD_COOKIE = "spokes_session";
export const API_COOKIE = "spokes_api";
/** Double-submit token for the forms shown before a login (login, setup). */
export const PRELOGIN_CSRF_COOKIE = "spokes_csrf";

export const DASHBOARD_SESSION_MS = 12 * 3600_000;
export const PENDING_2FA_SESSION_MS = 10 * 60_000;
export const API_SESSION_MS = 24 * 3600_000;

/** The client address for rate limiting ("" when unknown: all unknowns share one bucket). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function remoteAddress(c: Context<any>): string {
  return (c.env as WebEnv["Bindings"] | undefined)?.remote || "";
}

/** The web app sits behind the server's HTTPS front door; the request URL says which side it came in on. */
export function isHttps(c: Context): boolean {
  return c.req.url.startsWith("https:");
}

export function setSessionCookie(c: Context, name: string, token: string, maxAgeMs: number): void {
  setCookie(c, name, token, { path: "/", httpOnly: true, sameSite: "Lax", secure: isHttps(c), maxAge: Math.floor(maxAgeMs / 1000) });
}

export function clearCookie(c: Context, name: string): void {
  deleteCookie(c, name, { path: "/", httpOnly: true, sameSite: "Lax", secure: isHttps(c) });
}

export function sessionToken(c: Context, name: string): string {
  return getCookie(c, name) ?? "";
}

/** Constant-time comparison of two short secrets of any length. */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db) && a.length > 0;
}

/** The pre-login CSRF token, set as a cookie when missing. */
export function preloginCsrf(c: Context): string {
  let t = getCookie(c, PRELOGIN_CSRF_COOKIE) ?? "";
  if (!/^[A-Za-z0-9_-]{32}$/.test(t)) {
    t = randomBytes(24).toString("base64url");
    setCookie(c, PRELOGIN_CSRF_COOKIE, t, { path: "/", httpOnly: true, sameSite: "Strict", secure: isHttps(c), maxAge: 3600 });
  }
  return t;
}

/**
 * A cross-site form post has an Origin (or Referer) naming another host: refuse it even
 * before the token check. Requests without either (old clients, curl) rely on the token.
 */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin") ?? c.req.header("referer");
  if (!origin || origin === "null") return !origin;
  try {
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}
