// The server half of the tunnel engine: accepts pktriot's control and data WebSockets,
// runs a mux session on each, keeps the live tunnels in a routing registry, and opens
// streams toward clients for public connections. Persistence and policy come in as hooks
// (commands/_serve/ wires them to the database), so the engine runs in tests without one;
// `accept(transport, ...)` runs a connection over any transport (in-memory in tests) and
// the clock is injectable.
import type { Logger } from "../../log.ts";
import type { Server, WebSocketHandler } from "bun";
import { randomBytes } from "node:crypto";
import { bearerToken } from "../../http/bearer.ts";
import { createMuxSession, type KeepaliveOptions, type MuxSession, type MuxSessionOptions } from "../../mux/session.ts";
import type { MuxStream } from "../../mux/stream.ts";
import { createMuxPool, type MuxPool } from "../../mux/pool.ts";
import { realClock, type Clock } from "../../clock.ts";
import { ServerWebSocketTransport, serverTransportHandlers, type Transport } from "../../mux/transport.ts";
import {
  decodeJson,
  encodeJson,
  type ClientInfo,
  type ClientMessage,
  type ClientStreamMeta,
  type HttpRuleAnnounce,
  type PortRuleAnnounce,
  type RuleRefusal,
  type ServerMessage,
  type ServerStreamMeta,
} from "../messages.ts";
import { TUNNEL_CONTROL_PATH, TUNNEL_DATA_PATH } from "../../client-api/paths.ts";
import { createTunnelRegistry, type RoutableTunnel, type TunnelRegistry } from "./registry.ts";

export interface TunnelLoginInfo {
  tunnelId: string;
  userId: string | null;
  /** The tunnel user's name (registration `id`), matched by mesh access lists (`user:<name>`). */
  userName?: string;
  hostname: string;
}

export interface CheckedRules {
  https: HttpRuleAnnounce[];
  ports: PortRuleAnnounce[];
  refused: RuleRefusal[];
}

export interface TunnelServerHooks {
  login(key: string): Promise<{ ok: true; login: TunnelLoginInfo } | { ok: false; reason: string }>;
  /** Drops rules the tunnel may not have (domain of another tunnel, port not allocated to it). */
  checkRules(login: TunnelLoginInfo, https: HttpRuleAnnounce[], ports: PortRuleAnnounce[]): Promise<CheckedRules>;
  online(tunnel: LiveTunnel): Promise<void>;
  offline(tunnel: LiveTunnel): Promise<void>;
  rulesChanged(tunnel: LiveTunnel, config: unknown): Promise<void>;
  portsChanged(opened: number[], closed: number[]): void;
  monitorReport?(tunnel: LiveTunnel, services: { kind: "http" | "tcp"; name: string; available: boolean }[]): void;
  /** A stream the client opened (mesh): dial `meta.h:meta.p` and pipe it. */
  meshStream(tunnel: LiveTunnel, stream: MuxStream, meta: ClientStreamMeta): void;
  poolSize(): number;
  monitorSeconds(): number;
  /** Heartbeat of the tunnel connections (mux PING); default 10 s interval, dead after 30 s. */
  keepalive?: Partial<KeepaliveOptions>;
  /** A mux stream ran out of the client's credit with data queued (metrics). */
  onWindowStall?(): void;
  /** A tunnel login was refused (metrics). */
  onLoginRefused?(): void;
  /** Time for the hello and remote-change timeouts and the mux keepalive (tests inject a fake). */
  clock?: Clock;
  /** Time a new control connection has to send its hello (default 10 s). */
  helloTimeoutMs?: number;
  /** Time the server's own welcome work (rules check, database writes) may take once the hello is in (default 60 s). */
  welcomeTimeoutMs?: number;
  log: Logger;
}

const HELLO_TIMEOUT_MS = 10_000;
const WELCOME_TIMEOUT_MS = 60_000;
const REFUSAL_CLOSE_DELAY_MS = 100;
/** What a client is told when the server failed (not the token): it retries with backoff. */
export const LOGIN_ERROR_REASON = "internal server error during login; retrying later";

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** One connected client: its control session, the pool of data sessions, its rules. */
export class LiveTunnel implements RoutableTunnel {
  readonly session = randomBytes(16).toString("hex");
  readonly pool: MuxPool;
  info: ClientInfo = { os: "", arch: "", version: "" };
  https: HttpRuleAnnounce[] = [];
  ports: PortRuleAnnounce[] = [];
  config: unknown = {};
  online = false;
  readonly connectedAt = Date.now();

  constructor(
    readonly login: TunnelLoginInfo,
    readonly key: string,
    readonly address: string,
    readonly control: MuxSession,
    /** Connections at most, the control one included (the client is told the same). */
    maxPoolSize: number,
    private readonly clock: Clock = realClock,
  ) {
    this.pool = createMuxPool({ maxSize: Math.max(1, maxPoolSize) });
    this.pool.add(control);
  }

  get tunnelId(): string {
    return this.login.tunnelId;
  }
  get userId(): string | null {
    return this.login.userId;
  }

  /** Opens a stream to the client on the least busy pool connection. */
  openStream(meta: ServerStreamMeta): MuxStream {
    return this.pool.openStream(encodeJson(meta));
  }

  send(msg: ServerMessage): void {
    if (!this.control.closed) this.control.sendMessage(encodeJson(msg));
  }

  /** Messages from the client are handled one at a time, in order (a change's `applied` after its `rules`). */
  inbox: Promise<void> = Promise.resolve();
  private readonly pending = new Map<string, (r: { ok: boolean; error?: string }) => void>();

  /**
   * Remote management: sends a change to the client, which applies it, saves its config,
   * re-announces its rules and answers `applied`. Never rejects.
   */
  applyChange(change: unknown, timeoutMs = REMOTE_CHANGE_TIMEOUT_MS): Promise<{ ok: boolean; error?: string }> {
    if (!this.online || this.control.closed) return Promise.resolve({ ok: false, error: "tunnel is offline" });
    const requestId = randomBytes(8).toString("hex");
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => settle({ ok: false, error: "the client did not answer in time" }), timeoutMs);
      const settle = (r: { ok: boolean; error?: string }) => {
        this.clock.clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(r);
      };
      this.pending.set(requestId, settle);
      this.send({ type: "apply", requestId, change });
    });
  }

  /** The client's answer to `applyChange`. */
  settleChange(requestId: string, ok: boolean, error?: string): void {
    this.pending.get(requestId)?.({ ok, error: ok ? undefined : String(error ?? "the client refused the change").slice(0, 500) });
  }

  /** Pending changes fail when the tunnel goes away. */
  failPendingChanges(reason: string): void {
    for (const settle of [...this.pending.values()]) settle({ ok: false, error: reason });
  }
}

const REMOTE_CHANGE_TIMEOUT_MS = 15_000;

type WsData =
  | { kind: "control"; key: string; address: string; login?: TunnelLoginInfo; refused?: string; transport?: ServerWebSocketTransport; tunnel?: LiveTunnel }
  | { kind: "data"; tunnel: LiveTunnel; transport?: ServerWebSocketTransport };

/** What an upgrade request for a tunnel endpoint needs: its URL and headers. */
export interface TunnelUpgradeRequest {
  url: URL;
  header(name: string): string | null | undefined;
}

/** The outcome of admitting an upgrade: a refusal to send, or a function that runs the tunnel over the upgraded transport. */
export type TunnelAdmission = { refuse: Response } | { accept(transport: Transport): void };

/** What a tunnel connection presents, whatever carries it: the auth token, and for a data connection its tunnel session. */
export type TunnelConnectionRequest = { kind: "control"; key: string } | { kind: "data"; key: string; session: string };

/** A refusal before the tunnel protocol runs: an HTTP status for an upgrade, a close code 4000 + status for a transport. */
interface Refusal {
  status: number;
  error: string;
}

export interface TunnelServer {
  registry: TunnelRegistry<LiveTunnel>;
  /** For Bun.serve's fetch: answers tunnel endpoint requests (upgrade or refusal); undefined for other paths. */
  handle(req: Request, server: Server<WsData>, address: string): Promise<Response | undefined>;
  /**
   * The same endpoints for a WebSocket the caller frames itself (in-process TLS at the
   * front door): undefined for other paths, else a refusal or the acceptor.
   */
  admit(req: TunnelUpgradeRequest, address: string): Promise<TunnelAdmission | undefined>;
  /**
   * Runs one tunnel connection over a transport that is already open (in-memory in tests):
   * the same login and checks as an upgrade. A refused login is answered through the
   * tunnel protocol; an unknown data session closes the transport with 4000 + HTTP status.
   */
  accept(transport: Transport, request: TunnelConnectionRequest, address: string): Promise<void>;
  websocket: WebSocketHandler<WsData>;
  disconnect(tunnelId: string, reason: string): void;
  closeAll(reason: string): Promise<void>;
}

export function createTunnelServer(hooks: TunnelServerHooks): TunnelServer {
  const registry = createTunnelRegistry<LiveTunnel>();
  const bySession = new Map<string, LiveTunnel>();
  const clock = hooks.clock ?? realClock;

  const refuse = (status: number, error: string) => Response.json({ status: false, error }, { status });

  const goOffline = async (tunnel: LiveTunnel, reason: string) => {
    if (!tunnel.online) return;
    tunnel.online = false;
    bySession.delete(tunnel.session);
    const routes = registry.byId(tunnel.tunnelId) === tunnel;
    if (routes) {
      const { closed } = registry.setRoutes(tunnel, [], []);
      registry.remove(tunnel);
      hooks.portsChanged([], closed);
    }
    tunnel.pool.closeAll();
    tunnel.failPendingChanges("tunnel went offline");
    hooks.log.info(`tunnel ${tunnel.tunnelId} offline (${reason})`, { tunnel: tunnel.tunnelId, remote: tunnel.address });
    if (routes) await hooks.offline(tunnel).catch((err) => hooks.log.warn(`marking ${tunnel.tunnelId} offline failed: ${err}`));
  };

  const applyRules = async (tunnel: LiveTunnel, https: HttpRuleAnnounce[], ports: PortRuleAnnounce[], config: unknown): Promise<RuleRefusal[]> => {
    const checked = await hooks.checkRules(tunnel.login, sanitizeHttp(https), sanitizePorts(ports));
    tunnel.https = checked.https;
    tunnel.ports = checked.ports;
    tunnel.config = config;
    if (!tunnel.online) return checked.refused;
    const { opened, closed } = registry.setRoutes(tunnel, checked.https, checked.ports);
    hooks.portsChanged(opened, closed);
    await hooks.rulesChanged(tunnel, config);
    return checked.refused;
  };

  const onClientMessage = async (tunnel: LiveTunnel, msg: ClientMessage) => {
    switch (msg.type) {
      case "rules": {
        const refused = await applyRules(tunnel, msg.https ?? [], msg.ports ?? [], msg.config ?? {});
        tunnel.send({ type: "rulesResult", refused });
        break;
      }
      case "applied":
        if (typeof msg.requestId === "string") tunnel.settleChange(msg.requestId, msg.ok === true, msg.error);
        break;
      case "monitor":
        if (Array.isArray(msg.services)) hooks.monitorReport?.(tunnel, msg.services.slice(0, 1000));
        break;
      default:
        break;
    }
  };

  /** A mux session on an accepted connection (control or data) with the server's keepalive and clock. */
  const serverSession = (transport: Transport, handlers: Pick<MuxSessionOptions, "onStream" | "onMessage" | "onClose">) =>
    createMuxSession({ transport, side: "server", keepalive: hooks.keepalive, clock: hooks.clock, onWindowStall: hooks.onWindowStall, ...handlers });

  const startControl = (transport: Transport, data: Extract<WsData, { kind: "control" }>) => {
    const login = data.login!;
    let tunnel: LiveTunnel | undefined;
    // The hello deadline is the client's; once the hello is in, the server's own work
    // (queued database writes during a reconnect storm) gets a longer one of its own.
    // Cutting a slow welcome at the hello deadline threw that work away and sent the
    // client into backoff, which made a fleet reconnecting at once take longer and longer.
    let helloTimer = clock.setTimeout(() => {
      if (!tunnel) transport.close(4000, "no hello");
    }, hooks.helloTimeoutMs ?? HELLO_TIMEOUT_MS);

    const session = serverSession(transport, {
      onStream: (stream, meta) => {
        const m = decodeJson<ClientStreamMeta>(meta);
        if (!tunnel?.online || !m || m.t !== "dial" || typeof m.h !== "string" || !Number.isInteger(m.p)) return stream.reset();
        hooks.meshStream(tunnel, stream, m);
      },
      onMessage: (bytes) => {
        const msg = decodeJson<ClientMessage>(bytes);
        if (!msg) return;
        if (!tunnel) {
          if (msg.type !== "hello") return;
          tunnel = new LiveTunnel(login, data.key, data.address, session, hooks.poolSize(), clock);
          data.tunnel = tunnel;
          const t = tunnel;
          clock.clearTimeout(helloTimer);
          helloTimer = clock.setTimeout(() => {
            if (!t.online) transport.close(4000, "welcome timed out");
          }, hooks.welcomeTimeoutMs ?? WELCOME_TIMEOUT_MS);
          welcome(t, msg)
            .catch((err) => refuseAfterError(t, err))
            .finally(() => clock.clearTimeout(helloTimer));
          return;
        }
        const t = tunnel;
        t.inbox = t.inbox.then(() => onClientMessage(t, msg)).catch((err) => hooks.log.warn(`tunnel ${t.tunnelId}: ${err}`));
      },
      onClose: (reason) => {
        clock.clearTimeout(helloTimer);
        if (tunnel) void goOffline(tunnel, reason.message || "connection closed");
      },
    });
  };

  /**
   * A hook failed while the tunnel was being welcomed (a database error): undo any routing,
   * tell the client why (it prints the reason and retries with backoff) and close the
   * session, so no tunnel is left routed without having been welcomed.
   */
  const refuseAfterError = async (tunnel: LiveTunnel, err: unknown) => {
    hooks.log.warn(`tunnel ${tunnel.tunnelId} login failed: ${errorText(err)}`, { tunnel: tunnel.tunnelId, remote: tunnel.address });
    tunnel.send({ type: "refused", reason: LOGIN_ERROR_REASON });
    await goOffline(tunnel, "login failed");
    // Let the refusal reach the client before the close frame.
    clock.setTimeout(() => tunnel.control.close("login failed"), REFUSAL_CLOSE_DELAY_MS);
  };

  const welcome = async (tunnel: LiveTunnel, hello: Extract<ClientMessage, { type: "hello" }>) => {
    const info = hello.info ?? ({} as ClientInfo);
    tunnel.info = { os: String(info.os ?? "").slice(0, 32), arch: String(info.arch ?? "").slice(0, 32), version: String(info.version ?? "").slice(0, 32) };
    // A client that reconnects before its old session timed out replaces it.
    const previous = registry.byId(tunnel.tunnelId);
    if (previous && previous !== tunnel) {
      previous.send({ type: "shutdown", reason: "replaced by a newer connection of this tunnel" });
      await goOffline(previous, "replaced");
    }
    const refused = await applyRules(tunnel, hello.https ?? [], hello.ports ?? [], hello.config ?? {});
    if (tunnel.control.closed) return;
    tunnel.online = true;
    bySession.set(tunnel.session, tunnel);
    registry.add(tunnel);
    const { opened, closed } = registry.setRoutes(tunnel, tunnel.https, tunnel.ports);
    hooks.portsChanged(opened, closed);
    await hooks.online(tunnel);
    await hooks.rulesChanged(tunnel, tunnel.config);
    tunnel.send({
      type: "welcome",
      tunnelID: tunnel.tunnelId,
      session: tunnel.session,
      poolSize: hooks.poolSize(),
      hostname: tunnel.login.hostname,
      monitorSeconds: hooks.monitorSeconds(),
      refused,
    });
    hooks.log.info(`tunnel ${tunnel.tunnelId} online from ${tunnel.address} (${tunnel.info.os}/${tunnel.info.arch} ${tunnel.info.version})`, { tunnel: tunnel.tunnelId, remote: tunnel.address });
  };

  const openTransport = (data: WsData, transport: Transport) => {
    if (data.kind === "control") {
      if (data.refused) {
        // Refusals go through the tunnel protocol so the client can print the reason.
        const session = createMuxSession({ transport, side: "server", keepalive: false });
        session.sendMessage(encodeJson({ type: "refused", reason: data.refused } satisfies ServerMessage));
        clock.setTimeout(() => session.close("refused"), REFUSAL_CLOSE_DELAY_MS);
        return;
      }
      startControl(transport, data);
    } else {
      const tunnel = data.tunnel;
      const session = serverSession(transport, {
        onStream: (stream) => stream.reset(),
        onMessage: () => {},
        onClose: () => tunnel.pool.remove(session),
      });
      if (!tunnel.online) return session.close();
      // A client asking for more connections than the pool size it was told is refused the extra ones.
      if (!tunnel.pool.add(session)) session.close("data connection pool is full");
    }
  };

  /** Checks a tunnel connection: a refusal, or the data it runs with. */
  const admitConnection = async (req: TunnelConnectionRequest, address: string): Promise<Refusal | WsData> => {
    if (!req.key) return { status: 401, error: "missing auth token" };
    if (req.kind === "data") {
      const tunnel = bySession.get(req.session);
      if (!tunnel || tunnel.key !== req.key) return { status: 403, error: "unknown tunnel session" };
      return { kind: "data", tunnel };
    }
    const result = await hooks.login(req.key).catch((err): { ok: false; reason: string } => {
      hooks.log.warn(`tunnel login from ${address} failed: ${errorText(err)}`, { remote: address });
      return { ok: false, reason: LOGIN_ERROR_REASON };
    });
    if (!result.ok) {
      hooks.onLoginRefused?.();
      hooks.log.info(`tunnel login from ${address} refused: ${result.reason}`, { remote: address });
    }
    return result.ok ? { kind: "control", key: req.key, address, login: result.login } : { kind: "control", key: req.key, address, refused: result.reason };
  };

  /** Checks an upgrade request for a tunnel endpoint: a refusal, or the data its connection runs with. */
  const admitData = async (req: TunnelUpgradeRequest, address: string): Promise<Response | WsData | undefined> => {
    const url = req.url;
    if (url.pathname !== TUNNEL_CONTROL_PATH && url.pathname !== TUNNEL_DATA_PATH) return undefined;
    if (req.header("upgrade")?.toLowerCase() !== "websocket") return refuse(426, "WebSocket upgrade required");
    const key = bearerToken(req.header("authorization") ?? null) ?? "";
    const admitted = await admitConnection(
      url.pathname === TUNNEL_DATA_PATH ? { kind: "data", key, session: url.searchParams.get("session") ?? "" } : { kind: "control", key },
      address,
    );
    return "error" in admitted ? refuse(admitted.status, admitted.error) : admitted;
  };

  const websocket: WebSocketHandler<WsData> = {
    // Our own flow control bounds what is queued; Bun's default 16 MB backpressure
    // limit would close the connection instead of letting us wait for `drain`.
    backpressureLimit: 64 * 1024 * 1024,
    closeOnBackpressureLimit: false,
    maxPayloadLength: 1024 * 1024,
    idleTimeout: 0,
    perMessageDeflate: false,
    sendPings: false,
    open(ws) {
      const transport = new ServerWebSocketTransport(ws);
      ws.data.transport = transport;
      openTransport(ws.data, transport);
    },
    ...serverTransportHandlers,
  };

  return {
    registry,
    websocket,
    async handle(req, server, address) {
      const admitted = await admitData({ url: new URL(req.url), header: (name) => req.headers.get(name) }, address);
      if (admitted === undefined || admitted instanceof Response) return admitted;
      return server.upgrade(req, { data: admitted }) ? undefined : refuse(400, "upgrade failed");
    },
    async admit(req, address) {
      const admitted = await admitData(req, address);
      if (admitted === undefined) return undefined;
      if (admitted instanceof Response) return { refuse: admitted };
      return { accept: (transport) => openTransport(admitted, transport) };
    },
    async accept(transport, request, address) {
      const admitted = await admitConnection(request, address);
      if ("error" in admitted) transport.close(4000 + admitted.status, admitted.error);
      else openTransport(admitted, transport);
    },
    disconnect(tunnelId, reason) {
      const tunnel = registry.byId(tunnelId);
      if (!tunnel) return;
      tunnel.send({ type: "shutdown", reason });
      void goOffline(tunnel, reason);
      tunnel.control.close();
    },
    async closeAll(reason) {
      const all = [...registry.all()];
      await Promise.all(all.map((t) => goOffline(t, reason)));
      for (const t of all) t.control.close();
    },
  };
}

const MAX_RULES = 1000;

/** Keeps only well-formed rule announcements from a (possibly hostile) client. */
function sanitizeHttp(list: unknown): HttpRuleAnnounce[] {
  if (!Array.isArray(list)) return [];
  const out: HttpRuleAnnounce[] = [];
  for (const r of list.slice(0, MAX_RULES)) {
    if (!r || typeof r !== "object" || typeof r.domain !== "string") continue;
    out.push({
      domain: r.domain.trim().toLowerCase().replace(/\.$/, ""),
      ownCertificate: r.ownCertificate === true,
      answersAcme: r.answersAcme === true,
      redirect: r.redirect === true,
      rewriteHost: typeof r.rewriteHost === "string" ? r.rewriteHost : "",
      basicHttpAuth: typeof r.basicHttpAuth === "string" ? r.basicHttpAuth : "",
      firewall: sanitizeFirewall(r.firewall),
      available: r.available !== false,
      ...sanitizeMeshAccess(r, false),
    });
  }
  return out;
}

function sanitizePorts(list: unknown): PortRuleAnnounce[] {
  if (!Array.isArray(list)) return [];
  const out: PortRuleAnnounce[] = [];
  for (const r of list.slice(0, MAX_RULES)) {
    if (!r || typeof r !== "object" || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535) continue;
    out.push({ port: r.port, forwarded: r.forwarded === true, firewall: sanitizeFirewall(r.firewall), ...sanitizeMeshAccess(r, true) });
  }
  return out;
}

/**
 * Access settings as announced. Entries are kept as strings even when malformed: they then
 * match no caller, so a bad list stays closed instead of becoming empty (open to all).
 */
function sanitizeMeshAccess(r: { private?: unknown; meshAllow?: unknown }, withPrivate: boolean): { private?: boolean; meshAllow?: string[] } {
  const out: { private?: boolean; meshAllow?: string[] } = {};
  if (withPrivate && r.private === true) out.private = true;
  if (Array.isArray(r.meshAllow) && r.meshAllow.length) out.meshAllow = r.meshAllow.slice(0, 1024).map((e) => String(e).slice(0, 300));
  return out;
}

function sanitizeFirewall(list: unknown): HttpRuleAnnounce["firewall"] {
  if (!Array.isArray(list)) return [];
  return list
    .slice(0, 256)
    .filter((f) => f && typeof f === "object" && (f.action === "allow" || f.action === "drop") && typeof f.network === "string")
    .map((f) => ({ sequence: Number(f.sequence) || 0, action: f.action, network: f.network }));
}
