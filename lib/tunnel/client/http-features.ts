// The client's HTTP feature server: rules that need more than a byte pipe to the upstream
// (a webroot, a password login page, a redirect URL, or TLS terminated with the rule's own
// certificate) are served here by a Bun.serve on 127.0.0.1, and tunnel streams for those
// rules are piped into it. Plain rules never come here: they are piped straight to the
// upstream socket, which is much cheaper.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join, normalize, resolve, sep } from "node:path";
import type { HttpRule } from "../../client-config/types.ts";
import { createBasicAuthVerifier } from "../../http/basic-auth.ts";
import { escapeHtml } from "../../http/responses.ts";
import { ACME_CHALLENGE_PREFIX } from "../../acme/challenge-store.ts";

export const LOGIN_PATH = "/__pktriot/login";
const COOKIE = "pktriot_session";
const SESSION_MS = 12 * 3600_000;

/** True when a rule must go through the feature server rather than a raw pipe. */
export function needsFeatureServer(rule: HttpRule): boolean {
  return Boolean(rule.webRoot || rule.password || rule.redirectURL || ruleTerminatesTls(rule));
}

/** The client terminates TLS itself for rules with their own certificate (files, or Let's Encrypt on the client). */
export function ruleTerminatesTls(rule: HttpRule): boolean {
  return Boolean((rule.ca && rule.privateKey) || rule.useLetsEnc);
}

/**
 * `tls` (SPEC 3.1): the visitor's TLS goes untouched to the upstream's TLS port; nobody
 * here decrypts it. Not when the rule has a protection that needs the plaintext (password,
 * basic auth) or serves something else: then TLS ends at the server and requests are
 * re-encrypted to that port, as with `httpsUpstream`, so the protection is never bypassed.
 */
export function rulePassesTlsThrough(rule: HttpRule): boolean {
  return rule.tls > 0 && !needsFeatureServer(rule) && !rule.basicHttpAuth;
}

/** The upstream port and whether it speaks TLS, for requests this client (or the server) decrypted. */
export function requestUpstream(rule: HttpRule): { port: number; tls: boolean } | undefined {
  if (rule.port) return { port: rule.port, tls: false };
  // A pass-through (`tls`) upstream still speaks TLS: plain-HTTP visitors are re-encrypted to it.
  const tlsPort = rule.httpsUpstream || rule.tls;
  return tlsPort ? { port: tlsPort, tls: true } : undefined;
}

export interface FeatureServer {
  /** Port of the plain-HTTP feature listener on 127.0.0.1. */
  readonly port: number;
  /**
   * Port of the TLS listener for a rule with its own certificate (started on demand);
   * undefined while a Let's Encrypt rule has no certificate yet.
   */
  tlsPortFor(rule: HttpRule): number | undefined;
  /**
   * The visitor behind a loopback connection to a TLS listener (its source port): the
   * listener sees only 127.0.0.1, and X-Forwarded-For must name the visitor. Returns forget().
   */
  noteRemote(localPort: number, remote: string): () => void;
  setRules(rules: HttpRule[]): void;
  stop(): void;
}

export interface FeatureServerOptions {
  verifyPassword(password: string, storedHash: string): Promise<boolean>;
  /** The HTTP-01 answer (key authorization) for a token of a pending Let's Encrypt order. */
  acmeChallenge?(token: string): string | undefined;
  /** The current certificate of a Let's Encrypt rule (`fingerprint` tells a renewal apart). */
  letsEncryptCertificate?(domain: string): { certPem: string; keyPem: string; fingerprint: string } | undefined;
}

export function createFeatureServer(initial: HttpRule[], opts: FeatureServerOptions): FeatureServer {
  let rules = new Map(initial.map((r) => [r.domain, r]));
  const secret = randomBytes(32);
  const tlsServers = new Map<string, { server: ReturnType<typeof Bun.serve>; key: string }>();
  const remotes = new Map<number, string>();
  const basicAuth = createBasicAuthVerifier();

  const sign = (domain: string, expires: number) => createHmac("sha256", secret).update(`${domain}|${expires}`).digest("base64url");
  const validSession = (domain: string, cookie: string | null): boolean => {
    const m = cookie?.match(new RegExp(`(?:^|;\\s*)${COOKIE}=(\\d+)\\.([A-Za-z0-9_-]+)`));
    if (!m) return false;
    const expires = Number(m[1]);
    if (expires < Date.now()) return false;
    const want = Buffer.from(sign(domain, expires));
    const got = Buffer.from(m[2]!);
    return want.length === got.length && timingSafeEqual(want, got);
  };

  /** `visitor` is set when TLS ended here: no proxy in front of us added X-Forwarded-*. */
  const handle = async (req: Request, secure: boolean, visitor?: string): Promise<Response> => {
    const url = new URL(req.url);
    const domain = (req.headers.get("host") ?? url.hostname).toLowerCase().replace(/:\d+$/, "");
    const rule = rules.get(domain);
    if (!rule) return new Response("Unknown host", { status: 404 });
    // The CA's HTTP-01 request: answered here, never by the upstream, whatever the rule's
    // password, redirect or webroot (the server let it past its own redirect and auth).
    if (rule.useLetsEnc && url.pathname.startsWith(ACME_CHALLENGE_PREFIX)) {
      const answer = opts.acmeChallenge?.(url.pathname.slice(ACME_CHALLENGE_PREFIX.length));
      return answer ? new Response(answer, { headers: { "content-type": "application/octet-stream" } }) : new Response("No such challenge", { status: 404 });
    }
    // Basic auth is the server's job for what it terminates; TLS that ends here never
    // passed its HTTP router, so the rule's credentials are checked here instead.
    if (visitor !== undefined && rule.basicHttpAuth) {
      const ok = await basicAuth.verify(rule.basicHttpAuth, req.headers.get("authorization"));
      if (!ok) return basicAuthChallenge(domain);
    }
    if (rule.password) {
      if (url.pathname === LOGIN_PATH && req.method === "POST") {
        const form = await req.formData().catch(() => undefined);
        const password = String(form?.get("password") ?? "");
        const next = safeNext(String(form?.get("next") ?? "/"));
        if (password && (await opts.verifyPassword(password, rule.password))) {
          const expires = Date.now() + SESSION_MS;
          const cookie = `${COOKIE}=${expires}.${sign(domain, expires)}; Path=/; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}; Max-Age=${SESSION_MS / 1000}`;
          return new Response(null, { status: 303, headers: { location: next, "set-cookie": cookie } });
        }
        return loginPage(domain, next, "Wrong password", 401);
      }
      if (!validSession(domain, req.headers.get("cookie"))) return loginPage(domain, url.pathname + url.search, "", 401);
    }
    if (rule.redirectURL) return Response.redirect(rule.redirectURL, 302);
    if (rule.webRoot) return serveStatic(rule.webRoot, url.pathname, req.method);
    return proxyUpstream(req, url, rule, visitor);
  };

  const plain = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => handle(req, false), maxRequestBodySize: 1 << 30 });

  return {
    port: plain.port!,
    tlsPortFor(rule) {
      const issued = rule.ca && rule.privateKey ? undefined : opts.letsEncryptCertificate?.(rule.domain);
      if (!(rule.ca && rule.privateKey) && !issued) return undefined;
      const key = issued ? issued.fingerprint : `${rule.ca}|${rule.privateKey}`;
      const existing = tlsServers.get(rule.domain);
      if (existing && existing.key === key) return existing.server.port!;
      // A renewed certificate: new connections get a new listener; open ones finish on the old.
      existing?.server.stop();
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        tls: issued ? { cert: issued.certPem, key: issued.keyPem } : { cert: readFileSync(rule.ca, "utf8"), key: readFileSync(rule.privateKey, "utf8") },
        fetch: (req, srv) => {
          const ip = srv.requestIP(req);
          return handle(req, true, (ip && remotes.get(ip.port)) ?? ip?.address ?? "");
        },
        maxRequestBodySize: 1 << 30,
      });
      tlsServers.set(rule.domain, { server, key });
      return server.port!;
    },
    noteRemote(localPort, remote) {
      remotes.set(localPort, remote);
      return () => {
        if (remotes.get(localPort) === remote) remotes.delete(localPort);
      };
    },
    setRules(next) {
      rules = new Map(next.map((r) => [r.domain, r]));
      for (const [domain, s] of tlsServers) {
        if (!rules.has(domain)) {
          s.server.stop(true);
          tlsServers.delete(domain);
        }
      }
    },
    stop() {
      plain.stop(true);
      for (const s of tlsServers.values()) s.server.stop(true);
      tlsServers.clear();
    },
  };
}

function basicAuthChallenge(domain: string): Response {
  return new Response("This site requires a user name and password.\n", {
    status: 401,
    headers: { "www-authenticate": `Basic realm="${domain}", charset="UTF-8"`, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
  });
}

/** Only same-site relative paths, so the login form cannot be turned into an open redirect. */
function safeNext(next: string): string {
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}


function loginPage(domain: string, next: string, error: string, status: number): Response {
  const html = `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(domain)} — password required</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;background:#f5f6f8}form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:16rem}input,button{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin-top:.5rem}.err{color:#b00020}</style></head>
<body><form method="post" action="${LOGIN_PATH}"><h1 style="font-size:1.2rem">${escapeHtml(domain)}</h1><p>This site is protected by a password.</p>
${error ? `<p class="err">${escapeHtml(error)}</p>` : ""}<input type="hidden" name="next" value="${escapeHtml(next)}"><label>Password<input type="password" name="password" autofocus required></label><button type="submit">Continue</button></form></body></html>`;
  return new Response(html, { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
}

function serveStatic(root: string, pathname: string, method: string): Response {
  if (method !== "GET" && method !== "HEAD") return new Response("Method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return new Response("Bad request", { status: 400 });
  }
  const base = resolve(root);
  let file = resolve(base, `.${normalize(`/${rel}`)}`);
  // Never outside the webroot, whatever `..` or encoded tricks the path carries.
  if (file !== base && !file.startsWith(base + sep)) return new Response("Not found", { status: 404 });
  try {
    if (statSync(file).isDirectory()) file = join(file, "index.html");
    if (!statSync(file).isFile()) return new Response("Not found", { status: 404 });
  } catch {
    return new Response("Not found", { status: 404 });
  }
  return new Response(method === "HEAD" ? null : Bun.file(file));
}

const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"];

async function proxyUpstream(req: Request, url: URL, rule: HttpRule, visitor?: string): Promise<Response> {
  const upstream = requestUpstream(rule);
  if (!upstream) return new Response("No upstream for this site", { status: 502 });
  const { port, tls: useTls } = upstream;
  const headers = new Headers(req.headers);
  for (const h of HOP_BY_HOP) headers.delete(h);
  if (visitor !== undefined) {
    // The same headers the server adds to the requests it terminates (lib/http/request-stream.ts).
    const xff = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", xff ? `${xff}, ${visitor}` : visitor);
    headers.set("x-forwarded-proto", "https");
    if (headers.has("host")) headers.set("x-forwarded-host", headers.get("host")!);
  }
  if (rule.rewriteHost) headers.set("host", rule.rewriteHost);
  const target = `${useTls ? "https" : "http"}://${rule.destination.includes(":") ? `[${rule.destination}]` : rule.destination}:${port}${url.pathname}${url.search}`;
  try {
    const res = await fetch(target, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : req.body,
      redirect: "manual",
      decompress: false,
      tls: useTls ? { rejectUnauthorized: !rule.insecureUpstream } : undefined,
    } as RequestInit);
    // decompress:false keeps the upstream's encoding, so its content-encoding header stays true.
    const out = new Headers(res.headers);
    for (const h of HOP_BY_HOP) out.delete(h);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out });
  } catch {
    return new Response(`Upstream ${rule.destination}:${port} unreachable`, { status: 502 });
  }
}
