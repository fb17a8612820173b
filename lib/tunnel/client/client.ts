// The client half of the tunnel engine (pktriot start): keeps a control WebSocket to the
// server (reconnecting forever with backoff and jitter), announces the rules of the
// configuration, serves the streams the server opens by piping them to upstreams, grows
// a pool of data connections under load, runs the mesh listeners (ports map, local
// SOCKS) and the upstream monitor. Everything it needs comes in as options, including
// how a connection to the server is made (a WebSocket by default; an in-memory transport
// in tests) and the clock its timers run on.
import { dialTcp } from "../../net/dial-tcp.ts";
import { pipe } from "../../net/pipe.ts";
import { BunSocketConnection, type DuplexConnection } from "../../net/connection.ts";
import { createMuxSession, type KeepaliveOptions, type MuxSession, type MuxSessionOptions } from "../../mux/session.ts";
import type { MuxStream } from "../../mux/stream.ts";
import { createMuxPool, type MuxPool } from "../../mux/pool.ts";
import { openWebSocketTransport, type Transport } from "../../mux/transport.ts";
import { every, realClock, type Clock } from "../../clock.ts";
import type { ClientConfig, HttpRule } from "../../client-config/types.ts";
import { createFeatureServer, needsFeatureServer, requestUpstream, rulePassesTlsThrough, ruleTerminatesTls, type FeatureServer } from "./http-features.ts";
import { createRuleCertificates, type RuleCertificates, type RuleCertificatesOptions } from "./rule-certificates.ts";
import { dialTls } from "../../net/dial-tls.ts";
import { backoffDelay } from "../../net/backoff.ts";
import { createMeshListeners, type MeshListeners } from "./mesh-listeners.ts";
import {
  decodeJson,
  encodeJson,
  type ClientInfo,
  type ClientMessage,
  type HttpRuleAnnounce,
  type PortRuleAnnounce,
  type ServerMessage,
  type ServerStreamMeta,
} from "../messages.ts";
import { TUNNEL_CONTROL_PATH, TUNNEL_DATA_PATH } from "../../client-api/paths.ts";

export type TunnelClientState = "connecting" | "online" | "offline" | "stopped";

/**
 * Which of the server's tunnel endpoints a connection is for, and at which address
 * (`server`, one of the client's server URLs; absent: `serverUrl`). A data connection
 * goes to the address its control connection went to: the session lives on that node.
 */
export type TunnelEndpoint = { kind: "control"; server?: string } | { kind: "data"; session: string; server?: string };

/**
 * Opens one connection to the server: resolves with its transport once it is open,
 * rejects with why it could not be opened. `signal` aborts a connection still opening
 * (the client stopped, or the control connection it belonged to closed).
 */
export type TunnelConnector = (endpoint: TunnelEndpoint, signal: AbortSignal) => Promise<Transport>;

export interface TunnelClientOptions {
  /** `wss://host:port` of the server. */
  serverUrl: string;
  /**
   * More addresses of the same server (other nodes of a cluster), tried in turn after
   * `serverUrl` when the current address cannot be reached or its connection drops.
   */
  failoverUrls?: string[];
  key: string;
  /** TLS options for the WebSocket to `serverUrl` (CA, pin-derived chain, or insecure); computed per connect. */
  tls(serverUrl: string): Promise<Record<string, unknown> | undefined>;
  /** How long opening one connection (TCP, TLS, WebSocket upgrade) may take; default 15 s. */
  connectTimeoutMs?: number;
  info: ClientInfo;
  config: ClientConfig;
  verifyPassword(password: string, hash: string): Promise<boolean>;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  onState?(state: TunnelClientState, detail?: string): void;
  /** Remote management from the server: apply the change, save it, return the new config. */
  applyRemoteChange?(change: unknown): Promise<ClientConfig>;
  /** Backoff bounds (tests shorten them). */
  backoff?: { minMs: number; maxMs: number };
  /** How connections are made; default: a WebSocket to `serverUrl` with the key as bearer token. */
  connect?: TunnelConnector;
  /** Time for reconnect backoff, pool checks, the monitor and the mux keepalive (tests inject a fake). */
  clock?: Clock;
  /** Heartbeat of the tunnel connections (mux PING); default 10 s interval, dead after 30 s. */
  keepalive?: Partial<KeepaliveOptions>;
  /** Streams per pool connection before another data connection is opened. */
  streamsPerConnection?: number;
  /** How often idle extra data connections are looked for (closed after two idle checks). */
  poolIdleCheckMs?: number;
  /** Where and from which CA `useLetsEnc` rules get their certificates (no such rule: never used). */
  letsEncrypt?: RuleCertificatesOptions;
}

export interface TunnelClient {
  readonly state: TunnelClientState;
  readonly tunnelId: string;
  start(): void;
  /**
   * New configuration (file changed): re-announce rules, update listeners. Resolves once
   * the server has taken the rules (its `rulesResult`), at once when offline, or when the
   * connection drops first.
   */
  setConfig(config: ClientConfig): Promise<void>;
  stop(): Promise<void>;
}

/** What the server is told about an HTTP rule (secrets stay hashed; file paths stay here). */
export function announceHttp(rule: HttpRule): HttpRuleAnnounce {
  return {
    domain: rule.domain,
    // Raw TLS comes here: this client terminates it, or pipes it untouched to a `tls` upstream.
    ownCertificate: ruleTerminatesTls(rule) || rulePassesTlsThrough(rule),
    answersAcme: rule.useLetsEnc,
    redirect: rule.redirect,
    rewriteHost: rule.rewriteHost,
    basicHttpAuth: rule.basicHttpAuth,
    firewall: rule.firewall,
    available: true,
    ...(rule.meshAllow?.length ? { meshAllow: rule.meshAllow } : {}),
  };
}

export function announcePorts(config: ClientConfig): PortRuleAnnounce[] {
  return config.ports.map((p) => ({
    port: p.port,
    forwarded: Boolean(p.destination && p.dstPort),
    firewall: p.firewall,
    ...(p.private ? { private: true } : {}),
    ...(p.meshAllow?.length ? { meshAllow: p.meshAllow } : {}),
  }));
}

const STABLE_MS = 30_000;

export function createTunnelClient(opts: TunnelClientOptions): TunnelClient {
  let config = opts.config;
  let state: TunnelClientState = "offline";
  let tunnelId = config.tunnelID;
  let stopped = false;
  let attempt = 0;
  let retryTimer: unknown;
  let stopMonitor: (() => void) | undefined;
  let control: MuxSession | undefined;
  // Aborts the connections of the current control connection still opening.
  let connection = new AbortController();
  let pool: MuxPool | undefined;
  let sessionId = "";
  let poolSize = 1;
  let pendingData = 0;
  const clock = opts.clock ?? realClock;
  const openConnection: TunnelConnector = opts.connect ?? webSocketConnector(opts);
  // The server answers each `rules` message with one `rulesResult`, in order.
  const rulesAcks: (() => void)[] = [];
  const settleRulesAcks = () => {
    for (const ack of rulesAcks.splice(0)) ack();
  };
  const minMs = opts.backoff?.minMs ?? 1000;
  const maxMs = opts.backoff?.maxMs ?? 60_000;
  // Failover: the addresses in turn. A failed connect moves on to the next address at once
  // until every address failed in a row; only then the backoff delay, so a dead node costs
  // one failed connect, not a backoff period. A drop also moves on, after the backoff delay
  // (with its jitter: the clients of a node that died do not all arrive at once).
  const servers = [...new Set([opts.serverUrl, ...(opts.failoverUrls ?? [])])];
  let current = 0;
  let failedInRow = 0;
  /** The address of the current control connection: its data connections go there too. */
  let sessionServer = opts.serverUrl;
  /** Moves to the next address; true while some address has not failed since the last connection. */
  const nextServer = (): boolean => {
    current = (current + 1) % servers.length;
    if (++failedInRow < servers.length) return true;
    failedInRow = 0;
    return false;
  };
  const perConnection = opts.streamsPerConnection ?? 32;
  // Started on first use: most tunnels never need it, and a fleet host may run many clients.
  let featureServer: FeatureServer | undefined;
  // Likewise only once a rule asks for Let's Encrypt.
  let ruleCertificates: RuleCertificates | undefined;
  const applyLetsEncrypt = (rules: HttpRule[]) => {
    if (!ruleCertificates && !rules.some((r) => r.useLetsEnc)) return;
    if (!ruleCertificates) {
      if (!opts.letsEncrypt) return opts.log.error("a rule asks for Let's Encrypt but this client has no ACME settings");
      ruleCertificates = createRuleCertificates(opts.letsEncrypt, opts.log);
    }
    ruleCertificates.apply(rules);
  };
  const features = (): FeatureServer =>
    (featureServer ??= createFeatureServer(config.https, {
      verifyPassword: opts.verifyPassword,
      acmeChallenge: (token) => ruleCertificates?.challenges.get(token),
      letsEncryptCertificate: (domain) => ruleCertificates?.current(domain),
    }));
  applyLetsEncrypt(config.https);
  const mesh: MeshListeners = createMeshListeners({
    open: (host, port) => openMeshStream(host, port),
    log: opts.log,
  });
  mesh.apply(config);

  const setState = (s: TunnelClientState, detail?: string) => {
    state = s;
    opts.onState?.(s, detail);
  };

  const send = (msg: ClientMessage) => {
    if (control && !control.closed) control.sendMessage(encodeJson(msg));
  };

  const rulesMessage = (): { https: HttpRuleAnnounce[]; ports: PortRuleAnnounce[] } => ({
    https: config.https.map(announceHttp),
    ports: announcePorts(config),
  });

  // ---- streams opened by the server -------------------------------------------------

  const upstreamFor = (meta: ServerStreamMeta): { host: string; port: number; tls?: { rejectUnauthorized: boolean; serverName?: string } } | undefined => {
    if (meta.t === "tcp") {
      const rule = config.ports.find((p) => p.port === meta.p);
      // A private port is never served to a public connection, whatever the server sends.
      return rule && rule.destination && rule.dstPort && !rule.private ? { host: rule.destination, port: rule.dstPort } : undefined;
    }
    if (meta.t === "svc") {
      const rule = config.ports.find((p) => p.port === meta.p);
      if (rule && rule.destination && rule.dstPort) return { host: rule.destination, port: rule.dstPort };
      const http = config.https.find((h) => h.domain === meta.h);
      if (!http) return undefined;
      // Password, webroot and own-certificate rules are served by the feature server, never
      // straight from the upstream: the mesh must not bypass the rule's protection.
      if (needsFeatureServer(http)) {
        const tlsPort = meta.p === 443 && ruleTerminatesTls(http) ? features().tlsPortFor(http) : undefined;
        if (meta.p === 443) return tlsPort ? { host: "127.0.0.1", port: tlsPort } : undefined;
        return ruleTerminatesTls(http) ? undefined : { host: "127.0.0.1", port: features().port };
      }
      // A mesh client speaking HTTP(S) to the rule's hostname gets the upstream as it is.
      const tlsPort = http.tls || http.httpsUpstream;
      if (meta.p === 443 && tlsPort) return { host: http.destination, port: tlsPort };
      return http.port ? { host: http.destination, port: http.port } : undefined;
    }
    const rule = config.https.find((h) => h.domain === meta.d);
    if (!rule) return undefined;
    if (meta.t === "tls") {
      if (ruleTerminatesTls(rule)) {
        // A Let's Encrypt rule before its first certificate: the visitor's TLS is closed.
        const port = features().tlsPortFor(rule);
        return port ? { host: "127.0.0.1", port } : undefined;
      }
      // Pass-through: the visitor's TLS bytes go to the upstream as they are.
      return rulePassesTlsThrough(rule) ? { host: rule.destination, port: rule.tls } : undefined;
    }
    if (needsFeatureServer(rule)) return { host: "127.0.0.1", port: features().port };
    const upstream = requestUpstream(rule);
    if (!upstream) return undefined;
    if (!upstream.tls) return { host: rule.destination, port: upstream.port };
    return { host: rule.destination, port: upstream.port, tls: { rejectUnauthorized: !rule.insecureUpstream, serverName: rule.rewriteHost || rule.domain } };
  };

  const ruleTerminatesTlsFor = (domain: string) => {
    const rule = config.https.find((h) => h.domain === domain);
    return rule !== undefined && ruleTerminatesTls(rule);
  };

  const onServerStream = (stream: MuxStream, metaBytes: Uint8Array) => {
    maybeGrowPool();
    const meta = decodeJson<ServerStreamMeta>(metaBytes);
    const target = meta ? upstreamFor(meta) : undefined;
    if (!target) return stream.reset();
    stream.pause();
    void dialUpstream(target).then((upstream) => {
      if (!upstream) return stream.reset();
      // TLS the client terminates: its listener must learn who the visitor is (X-Forwarded-For).
      const terminated = meta!.t === "tls" && upstream instanceof BunSocketConnection && ruleTerminatesTlsFor(meta!.d);
      const forget = terminated ? features().noteRemote(upstream.socket.localPort, meta!.r) : undefined;
      void pipe(stream, upstream).finally(() => forget?.());
    });
  };

  // ---- mesh streams (client → server) ----------------------------------------------

  /** Opens a mesh stream; the server answers with one status byte (0 = connected, else a SOCKS reply code). */
  function openMeshStream(host: string, port: number): MuxStream | undefined {
    if (!pool || state !== "online") return undefined;
    maybeGrowPool();
    return pool.openStream(encodeJson({ t: "dial", h: host, p: port }));
  }

  // ---- connections ------------------------------------------------------------------

  /** A mux session over a new connection; the server opens streams on any of them. */
  const openSession = (transport: Transport, handlers: Pick<MuxSessionOptions, "onMessage" | "onClose">): MuxSession =>
    createMuxSession({ transport, side: "client", keepalive: opts.keepalive, clock: opts.clock, onStream: onServerStream, ...handlers });

  const maybeGrowPool = () => {
    if (!pool || !sessionId || pendingData > 0) return;
    if (pool.size + pendingData >= poolSize) return;
    if (pool.streamCount < pool.size * perConnection) return;
    pendingData++;
    const forPool = pool;
    const { signal } = connection;
    void openConnection({ kind: "data", session: sessionId, server: sessionServer }, signal)
      .then((transport) => {
        pendingData--;
        const session = openSession(transport, { onClose: () => forPool.remove(session) });
        // The control connection it belonged to closed (or a new one replaced it) while it opened.
        if (signal.aborted || pool !== forPool) return session.close();
        pool.add(session);
        opts.log.info(`data connection ${pool.size}/${poolSize} open (${pool.streamCount} streams)`);
      })
      .catch(() => {
        pendingData--;
      });
  };

  // Extra data connections that carried no stream for two checks in a row are closed,
  // so a burst does not keep a fleet of idle TLS connections open on the server.
  const idleSeen = new WeakSet<MuxSession>();
  const shrinkPool = () => {
    if (!pool) return;
    // A copy: closing removes sessions from the pool's list while we walk it.
    for (const session of [...pool.sessions]) {
      if (session === control || session.streamCount > 0) {
        idleSeen.delete(session);
      } else if (idleSeen.has(session)) {
        session.close("idle data connection");
        pool.remove(session);
        opts.log.info(`idle data connection closed (${pool.size}/${poolSize} open)`);
      } else idleSeen.add(session);
    }
  };
  const stopShrinking = every(clock, opts.poolIdleCheckMs ?? 30_000, shrinkPool, { unref: true });

  const scheduleReconnect = (why: string) => {
    if (stopped) return;
    const delay = backoffDelay(attempt++, minMs, maxMs);
    setState("offline", why);
    const to = servers.length > 1 ? ` to ${servers[current]}` : "";
    opts.log.warn(`disconnected: ${why}; reconnecting${to} in ${(delay / 1000).toFixed(1)}s`);
    retryTimer = clock.setTimeout(connect, delay);
  };

  function connect() {
    if (stopped) return;
    const server = servers[current]!;
    setState("connecting", server);
    let closedWhy = "connection closed";
    connection = new AbortController();
    const { signal } = connection;
    void openConnection({ kind: "control", server }, signal)
      .then((transport) => {
        if (signal.aborted) return transport.close();
        failedInRow = 0;
        sessionServer = server;
        const connectedAt = clock.now();
        const session = openSession(transport, {
          onMessage: (bytes) => {
            const msg = decodeJson<ServerMessage>(bytes);
            if (msg) onServerMessage(msg, (why) => (closedWhy = why));
          },
          onClose: (reason) => {
            if (control === session) {
              control = undefined;
              connection.abort();
              pool?.closeAll();
              pool = undefined;
              sessionId = "";
              stopMonitor?.();
              settleRulesAcks();
            }
            if (clock.now() - connectedAt > STABLE_MS) attempt = 0;
            if (stopped) return;
            nextServer();
            scheduleReconnect(closedWhy === "connection closed" && reason.message ? reason.message : closedWhy);
          },
        });
        control = session;
        send({ type: "hello", info: opts.info, ...rulesMessage(), config: shareableConfig(config) });
      })
      .catch((err) => {
        const why = err instanceof Error ? err.message : String(err);
        if (stopped) return;
        if (!nextServer()) return scheduleReconnect(why);
        opts.log.warn(`${why}; trying ${servers[current]}`);
        connect();
      });
  }

  const onServerMessage = (msg: ServerMessage, setWhy: (why: string) => void) => {
    switch (msg.type) {
      case "welcome": {
        tunnelId = msg.tunnelID;
        sessionId = msg.session;
        poolSize = Math.max(1, Math.min(64, msg.poolSize || 1));
        pool = createMuxPool();
        if (control) pool.add(control);
        setState("online");
        opts.log.info(`tunnel ${tunnelId} online`);
        for (const r of msg.refused ?? []) opts.log.warn(`rule ${r.rule} refused by the server: ${r.reason}`);
        startMonitor(msg.monitorSeconds);
        break;
      }
      case "rulesResult":
        for (const r of msg.refused ?? []) opts.log.warn(`rule ${r.rule} refused by the server: ${r.reason}`);
        rulesAcks.shift()?.();
        break;
      case "refused":
        setWhy(`server refused the tunnel: ${msg.reason}`);
        opts.log.error(`server refused the tunnel: ${msg.reason}`);
        break;
      case "shutdown":
        setWhy(`server closed the tunnel: ${msg.reason}`);
        opts.log.warn(`server closed the tunnel: ${msg.reason}`);
        break;
      case "apply":
        void applyRemote(msg.requestId, msg.change);
        break;
    }
  };

  const applyRemote = async (requestId: string, change: unknown) => {
    if (!opts.applyRemoteChange) return send({ type: "applied", requestId, ok: false, error: "client does not accept remote changes" });
    try {
      const next = await opts.applyRemoteChange(change);
      // Re-announce first: the server handles our messages in order, so by the time it
      // reads `applied` the new rules are in force.
      void client.setConfig(next);
      send({ type: "applied", requestId, ok: true });
    } catch (err) {
      send({ type: "applied", requestId, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  };

  const startMonitor = (seconds: number) => {
    stopMonitor?.();
    stopMonitor = undefined;
    if (!seconds || seconds <= 0) return;
    const check = async () => {
      const services: { kind: "http" | "tcp"; name: string; available: boolean }[] = [];
      for (const h of config.https) {
        const port = h.port || h.httpsUpstream || h.tls;
        const available = h.webRoot || h.redirectURL ? true : port ? await probe(h.destination, port) : false;
        services.push({ kind: "http", name: h.domain, available });
      }
      for (const p of config.ports) {
        if (!p.destination || !p.dstPort) continue;
        services.push({ kind: "tcp", name: String(p.port), available: await probe(p.destination, p.dstPort) });
      }
      send({ type: "monitor", services });
    };
    void check();
    stopMonitor = every(clock, seconds * 1000, () => void check());
  };

  const client: TunnelClient = {
    get state() {
      return state;
    },
    get tunnelId() {
      return tunnelId;
    },
    start() {
      stopped = false;
      connect();
    },
    setConfig(next) {
      config = next;
      applyLetsEncrypt(next.https);
      featureServer?.setRules(next.https);
      mesh.apply(next);
      if (state !== "online" || !control || control.closed) return Promise.resolve();
      const taken = new Promise<void>((resolve) => rulesAcks.push(resolve));
      send({ type: "rules", ...rulesMessage(), config: shareableConfig(next) });
      return taken;
    },
    async stop() {
      stopped = true;
      clock.clearTimeout(retryTimer);
      stopMonitor?.();
      stopShrinking();
      connection.abort();
      control?.close();
      settleRulesAcks();
      mesh.closeAll();
      featureServer?.stop();
      ruleCertificates?.stop();
      setState("stopped");
    },
  };

  return client;
}

/**
 * The default connector: a WebSocket to the server's tunnel endpoint, the auth token as
 * bearer token, TLS options computed per connection.
 */
export function webSocketConnector(opts: Pick<TunnelClientOptions, "serverUrl" | "key" | "tls" | "connectTimeoutMs">): TunnelConnector {
  const timeoutMs = opts.connectTimeoutMs ?? 15_000;
  return async (endpoint, signal) => {
    const serverUrl = endpoint.server ?? opts.serverUrl;
    const path = endpoint.kind === "control" ? TUNNEL_CONTROL_PATH : `${TUNNEL_DATA_PATH}?session=${endpoint.session}`;
    const tls = await opts.tls(serverUrl);
    if (signal.aborted) throw new Error("connection aborted");
    const ws = new WebSocket(`${serverUrl.replace(/\/$/, "")}${path}`, { headers: { Authorization: `Bearer ${opts.key}` }, tls } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    // A host that drops packets would hold the attempt for minutes: the failover waits for nobody.
    return openWebSocketTransport(ws, {
      timeoutMs,
      signal,
      describe: (f) => `cannot connect to ${serverUrl}${f.timedOut ? `: no answer within ${timeoutMs / 1000}s` : f.reason ? `: ${f.reason}` : ""}`,
    });
  };
}

/**
 * The configuration as the server may store and show it (`tunnel/config/{id}`): the auth
 * token stays on the client, so a database or API reader never sees it in this copy.
 */
export function shareableConfig(config: ClientConfig): ClientConfig {
  return { ...config, key: "" };
}

/** Connects to an upstream, over TLS when the rule's upstream speaks it. */
async function dialUpstream(target: { host: string; port: number; tls?: { rejectUnauthorized: boolean; serverName?: string } }): Promise<DuplexConnection | undefined> {
  if (target.tls) return dialTls(target.host, target.port, target.tls);
  const r = await dialTcp(target.host, target.port, { timeoutMs: 10_000 });
  return r.ok ? r.connection : undefined;
}

/** A TCP connect check of an upstream (SPEC 2.3 "Monitoring"). */
export async function probe(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  const r = await dialTcp(host, port, { timeoutMs });
  if (r.ok) r.connection.reset();
  return r.ok;
}
