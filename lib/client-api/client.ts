// The client's JSON calls to the server (`https://<serverHost>/api/client/v1/...`):
// register/check a key, deauthorize, allocate/release TCP ports, tunnel status.
import { UserError } from "../errors.ts";
import { CLIENT_API_BASE } from "./paths.ts";
import { ServerRefusedError, ServerUnreachableError, UntrustedCertificateError, classifyConnectError } from "./errors.ts";
import { parseServerHost, type ServerAddress } from "./server-host.ts";
import { fetchTlsOptions, type FetchTls, type ServerTrust } from "./trust.ts";

export interface ClientApiOptions {
  /** `host[:port]` or an already parsed address. */
  server: string | ServerAddress;
  /**
   * More addresses of the same server (cluster nodes): a call that cannot reach the current
   * address is sent to the next one (only when nothing was sent: no answer in time is not retried).
   */
  failover?: ServerAddress[];
  trust: ServerTrust;
  /** The auth token, for every call but `register`. */
  key?: string;
  timeoutMs?: number;
}

export interface RegisterRequest {
  /** A registration token issued by the server's admin. */
  token: string;
  /** Optional user id the tunnel is registered for. */
  id?: string;
  /** Optional hostname requested for the tunnel. */
  hostname?: string;
}

export interface RegisterResult {
  key: string;
  tunnelID: string;
  hostname: string;
}

export interface AuthResult {
  tunnelID: string;
  hostname: string;
  /** The server's own domain ("" from a server that does not send it). */
  domain: string;
}

export interface TunnelStatus {
  tunnelID: string;
  online: boolean;
  hostname: string;
  https: unknown[];
  ports: unknown[];
}

export interface ClientApi {
  /** The address the last call went to (the first one until a failover). */
  readonly server: ServerAddress;
  register(req: RegisterRequest): Promise<RegisterResult>;
  auth(): Promise<AuthResult>;
  deauth(): Promise<void>;
  allocatePort(): Promise<number>;
  releasePort(port: number): Promise<void>;
  status(): Promise<TunnelStatus>;
}

type Json = Record<string, unknown>;

/** The client API's base path on the server (one definition, shared with the server side). */
export const API_PREFIX = `${CLIENT_API_BASE}/`;
const DEFAULT_TIMEOUT_MS = 15000;

export function createClientApi(opts: ClientApiOptions): ClientApi {
  const first = typeof opts.server === "string" ? parseServerHost(opts.server) : opts.server;
  const servers = [first, ...(opts.failover ?? []).filter((s) => s.hostPort !== first.hostPort)];
  let server = first;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // A pin costs one extra handshake; do it once per client, not per call.
  let tls: Promise<FetchTls | undefined> | undefined;

  const unexpected = (what: string) => new UserError(`server ${server.hostPort} sent an unexpected response: ${what}`);

  function explain(err: UserError): UserError {
    if (err instanceof UntrustedCertificateError && opts.trust.kind === "pin") {
      return new UserError(
        `the pinned certificate of server ${server.hostPort} cannot be verified on the request connection (${err.reason}): the server sends neither a self-signed certificate nor its root CA; configure with --ca FILE (the issuing CA) instead`,
      );
    }
    return err;
  }

  async function call(method: "GET" | "POST", path: string, body?: Json, authorized = true): Promise<Json> {
    const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json" };
    if (authorized) {
      if (!opts.key) throw new UserError("this client has no auth key; run pktriot unmanaged configure first");
      headers.Authorization = `Bearer ${opts.key}`;
    }
    let res: Response | undefined;
    for (let tried = 1; !res; tried++) {
      try {
        tls ??= fetchTlsOptions(server, opts.trust, timeoutMs);
        res = await fetch(`https://${server.hostPort}${API_PREFIX}${path}`, {
          method,
          headers,
          body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
          tls: await tls,
          // Never follow a redirect: it would carry the Bearer token somewhere else.
          redirect: "manual",
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        // A failed pre-connect must not be cached: the next call may succeed.
        tls = undefined;
        const classified = explain(classifyConnectError(err, server.hostPort, timeoutMs));
        // A timeout may have reached the server (a port allocated twice): only "nobody there" moves on.
        const timedOut = (err as { name?: string })?.name === "TimeoutError";
        if (!(classified instanceof ServerUnreachableError) || timedOut || tried >= servers.length) throw classified;
        server = servers[(servers.indexOf(server) + 1) % servers.length]!;
      }
    }
    const text = await res.text().catch(() => "");
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {}
    const obj = json && typeof json === "object" && !Array.isArray(json) ? (json as Json) : undefined;
    if (!res.ok || obj?.status === false) {
      const reason = typeof obj?.error === "string" && obj.error ? obj.error : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
      throw new ServerRefusedError(reason, res.status);
    }
    if (!obj) throw unexpected(`HTTP ${res.status} without a JSON object`);
    return obj;
  }

  const str = (obj: Json, key: string, required = true): string => {
    const v = obj[key];
    if (typeof v === "string" && (v || !required)) return v;
    if (v === undefined && !required) return "";
    throw unexpected(`no ${key}`);
  };

  return {
    get server() {
      return server;
    },
    async register(req) {
      const body: Json = { token: req.token };
      if (req.id) body.id = req.id;
      if (req.hostname) body.hostname = req.hostname;
      const r = await call("POST", "register", body, false);
      return { key: str(r, "key"), tunnelID: str(r, "tunnelID"), hostname: str(r, "hostname", false) };
    },
    async auth() {
      const r = await call("POST", "auth", {});
      return { tunnelID: str(r, "tunnelID"), hostname: str(r, "hostname", false), domain: str(r, "domain", false) };
    },
    async deauth() {
      await call("POST", "deauth", {});
    },
    async allocatePort() {
      const r = await call("POST", "ports/allocate", {});
      const port = r.port;
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) throw unexpected(`invalid port ${JSON.stringify(port)}`);
      return port;
    },
    async releasePort(port) {
      await call("POST", "ports/release", { port });
    },
    async status() {
      const r = await call("GET", "status");
      return {
        tunnelID: str(r, "tunnelID", false),
        online: r.online === true,
        hostname: str(r, "hostname", false),
        https: Array.isArray(r.https) ? r.https : [],
        ports: Array.isArray(r.ports) ? r.ports : [],
      };
    },
  };
}
