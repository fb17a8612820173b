// A web app on an in-memory database with fake live deps, and a tiny cookie-keeping
// client for app.request() (the dashboard is driven like a browser would).
import { createWebApp } from "../../../web/app.ts";
import type { ApplyResult, RemoteChange, WebAppDeps } from "../../../web/deps.ts";
import { createRateLimiter, defaultRateLimits, type WebRateLimits } from "../../../web/security/rate-limit.ts";
import { defaultServerConfig, type ServerConfig } from "../../../lib/config/server-config.ts";
import type { Database } from "../../../db/client.ts";
import { memoryDb } from "../../db-fixtures.ts";
import { createUser } from "../../../db/queries/users.ts";
import { USER_ORIGIN } from "../../../db/schema.ts";
import { applyRemoteChange } from "../../../lib/client-config/remote-change.ts";
import { defaultClientConfig, type ClientConfig } from "../../../lib/client-config/types.ts";
import { tmpdir } from "node:os";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";

export interface FakeLive {
  online: Set<string>;
  configs: Map<string, ClientConfig>;
  applied: { tunnelId: string; change: RemoteChange }[];
  disconnected: string[];
  /** When set, the fake client refuses every change with this error. */
  refuse?: string;
}

export interface TestWeb {
  app: ReturnType<typeof createWebApp>;
  db: Database;
  config: ServerConfig;
  live: FakeLive;
  deps: WebAppDeps;
  clock: { now: number };
  settingsApplied: string[][];
}

export async function testWeb(opts: { adminSecret?: string; limits?: WebRateLimits; pageTtlMs?: number } = {}): Promise<TestWeb> {
  const db = await memoryDb();
  const dir = mkdtempSync(join(tmpdir(), "spokes-web-"));
  const config = defaultServerConfig("spokes.test");
  config.dataPath = dir;
  config.database.path = join(dir, "spokes.db");
  config.portRange = { begin: 30000, end: 30009 };
  const live: FakeLive = { online: new Set(), configs: new Map(), applied: [], disconnected: [] };
  const clock = { now: Date.now() };
  const settingsApplied: string[][] = [];
  const deps: WebAppDeps = {
    db,
    config: () => config,
    now: () => clock.now,
    adminSecret: () => opts.adminSecret,
    pageTtlMs: opts.pageTtlMs,
    settings: { applied: async (sections) => void settingsApplied.push(sections) },
    live: {
      isOnline: (id) => live.online.has(id),
      announced: (id) => (live.online.has(id) ? { https: [], ports: [] } : undefined),
      disconnect: (id) => void live.disconnected.push(id),
      tunnel: (id) => (live.online.has(id) ? { config: live.configs.get(id) ?? defaultClientConfig() } : undefined),
      async applyChange(tunnelId, change): Promise<ApplyResult> {
        if (!live.online.has(tunnelId)) return { ok: false, error: "tunnel is offline" };
        if (live.refuse) return { ok: false, error: live.refuse };
        try {
          live.configs.set(tunnelId, applyRemoteChange(live.configs.get(tunnelId) ?? defaultClientConfig(), change));
        } catch (err) {
          return { ok: false, error: (err as Error).message };
        }
        live.applied.push({ tunnelId, change });
        return { ok: true };
      },
    },
  };
  const app = createWebApp(deps, { limits: opts.limits ?? defaultRateLimits(() => clock.now) });
  return { app, db, config, live, deps, clock, settingsApplied };
}

export function tightLimits(limit = 3): WebRateLimits {
  const l = () => createRateLimiter({ limit, windowMs: 60_000 });
  return { loginPerAddress: l(), loginPerAccount: l(), twoFactorPerAddress: l(), twoFactorPerAccount: l(), apiAuthPerAddress: l(), apiAuthPerKey: l(), setupPerAddress: l() };
}

export async function addAdmin(db: Database, email = "admin@example.com", password = "correct horse", enable2FA = false) {
  return createUser(db, { email, password, fullName: "Ada Admin", origin: USER_ORIGIN.adminCli, enable2FA });
}

/** Drives the app like a browser: keeps cookies, reads CSRF tokens from the last page. */
export class Browser {
  cookies = new Map<string, string>();
  lastHtml = "";
  constructor(
    readonly web: TestWeb,
    readonly origin = "https://spokes.test",
    readonly remote = "203.0.113.7",
  ) {}

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set("cookie", this.cookieHeader());
    headers.set("host", new URL(this.origin).host);
    const res = await this.web.app.request(new URL(path, this.origin).toString(), { ...init, headers }, { remote: this.remote });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair!.indexOf("=");
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (!value || /max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  async get(path: string): Promise<Response> {
    const res = await this.request(path);
    if (res.headers.get("content-type")?.includes("text/html")) this.lastHtml = await res.clone().text();
    return res;
  }

  /** The `_csrf` value of the last page's forms. */
  csrf(): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(this.lastHtml);
    if (!m) throw new Error("no CSRF token on the last page");
    return m[1]!;
  }

  async post(path: string, fields: Record<string, string>, opts: { csrf?: string | false; headers?: Record<string, string> } = {}): Promise<Response> {
    const body = new URLSearchParams(fields);
    if (opts.csrf !== false) body.set("_csrf", opts.csrf ?? this.csrf());
    const res = await this.request(path, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded", origin: this.origin, ...opts.headers },
    });
    if (res.headers.get("content-type")?.includes("text/html")) this.lastHtml = await res.clone().text();
    return res;
  }

  /** Logs in with a password (no 2FA); throws unless it lands on the overview. */
  async login(email = "admin@example.com", password = "correct horse"): Promise<void> {
    await this.get("/login");
    const res = await this.post("/login", { email, password });
    if (res.status !== 303 || res.headers.get("location") !== "/") throw new Error(`login failed: ${res.status} ${res.headers.get("location")}`);
    await this.get("/");
  }
}

/** A fresh web app with an admin, and a browser signed in as that admin (the pages' tests start here). */
export async function signedIn(): Promise<{ w: TestWeb; b: Browser }> {
  const w = await testWeb();
  await addAdmin(w.db);
  const b = new Browser(w);
  await b.login();
  return { w, b };
}
