// Wires the engines of lib/ to the database and the listeners: the tunnel server gets
// the login policy (login-policy.ts) as hooks, the listeners get their routers, and the
// periodic jobs (periodic-jobs.ts) start once everything listens.
import type { ConsolaInstance } from "consola";
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../db/client.ts";
import { newId } from "../../db/ids.ts";
import { findDomainOwner, markNodeTunnelsOffline, saveServiceAvailability } from "../../db/queries/live.ts";
import { clusterSettingsOf, type LoadedConfig, type ServerConfig } from "../../lib/config/server-config.ts";
import { createChallengeStore } from "../../lib/acme/challenge-store.ts";
import { loadStoredAcmeCertificate, startAcmeRenewer, type AcmeRenewer } from "../../lib/acme/renewer.ts";
import type { OnDemandCertificates } from "../../lib/acme/on-demand.ts";
import { createOrderLimiter } from "../../lib/acme/order-limiter.ts";
import { startOnDemandCertificates } from "./on-demand-certificates.ts";
import { startClusterPeering, type ClusterPeering } from "./cluster.ts";
import { createListenerPorts } from "../../lib/cluster/listener-ports.ts";
import type { LiveControl } from "../../lib/cluster/live-control.ts";
import { createLoopbackRelay } from "../../lib/edge/loopback-relay.ts";
import { createPublicSocksListeners } from "../../lib/edge/socks-listeners.ts";
import { createSniListener } from "../../lib/edge/sni-listener.ts";
import { startTlsListeners, type TlsListeners } from "../../lib/edge/tls-listeners.ts";
import { createTcpPortListeners } from "../../lib/edge/tcp-port-listeners.ts";
import { UserError, errorMessage } from "../../lib/errors.ts";
import { parseIpLiteral } from "../../lib/socks/allow-list.ts";
import { bunSocketHandlers, type ConnectionSlot } from "../../lib/net/connection.ts";
import { createTrafficStats } from "../../lib/stats/traffic-stats.ts";
import { ensureServerCertificate, ensureSharedSelfSigned } from "../../lib/tls/certificates.ts";
import { clusterCertificateStore, restoreUploadedCertificate } from "./cluster-certificate.ts";
import { createCertificateSource } from "../../lib/tls/sni-certificates.ts";
import { certificateCovers } from "../../lib/tls/certificates.ts";
import { createEdgeRouter } from "../../lib/edge/edge-router.ts";
import { createMeshResolver } from "../../lib/tunnel/server/mesh-resolver.ts";
import { createTunnelServer } from "../../lib/tunnel/server/server.ts";
import { VERSION } from "../../lib/version.ts";
import { createWebApp } from "../../web/app.ts";
import { databaseOptionsOf } from "../_server-context.ts";
import { startMemoryGovernor } from "./memory-governor.ts";
import { createLoginPolicy } from "./login-policy.ts";
import { startPeriodicJobs } from "./periodic-jobs.ts";
import { startClusterMembership } from "./cluster-store.ts";
import { healthResponse } from "./health.ts";
import { uncountedMetrics, type MetricHooks } from "./metric-hooks.ts";
import { startMetricsListener } from "./metrics-listener.ts";
import { watchDatabaseFile } from "../../db/file-identity.ts";
import { countTunnelsByState, pingDatabase } from "../../db/queries/health.ts";
import { loadSettings } from "../../db/queries/settings.ts";
import { applyServerSettings, settingsPatchFrom, tlsModeOf, type SettingsSection } from "../../lib/config/server-settings.ts";
import type { TlsMode } from "../../lib/config/server-config.ts";

export interface EdgeServer {
  readonly httpPort: number;
  readonly httpsPort: number;
  stop(): Promise<void>;
}

type Slot = ConnectionSlot;

export async function startEdgeServer(loaded: LoadedConfig, log: ConsolaInstance): Promise<EdgeServer> {
  const config: ServerConfig = loaded.config;
  const clusterSettings = clusterSettingsOf(config);
  // The tunnels table's server_node: the configured id in a cluster, else one per process.
  const node = clusterSettings?.nodeId ?? newId();
  const started = Date.now();
  const { db, close: closeDb } = await openDatabase(databaseOptionsOf(config));
  const dbFile = config.database.url ? undefined : watchDatabaseFile(config.database.path);
  let stopping = false;

  // Dashboard settings (database) override the file.
  const stored = settingsPatchFrom(await loadSettings(db));
  const overridden = applyServerSettings(config, stored);
  let tlsMode: TlsMode = overridden.includes("tls") ? tlsModeOf(config) : loaded.tlsMode;

  const challenges = createChallengeStore();
  const acmeDir = join(config.dataPath, "acme");
  const acmeCaPem = acmeCaFromEnv(process.env.SPOKES_ACME_CA_FILE);
  let renewer: AcmeRenewer | undefined;
  /** Let's Encrypt mode only: certificates for tunnel names, ordered on their first handshake. */
  let onDemand: OnDemandCertificates | undefined;
  const onDemandLimiter = createOrderLimiter();
  /**
   * The server certificate for the current configuration: the configured files, the
   * self-signed pair, or the stored Let's Encrypt certificate. Until the first ACME order
   * succeeds, Let's Encrypt serves the self-signed pair so the server is up at once.
   */
  const loadServerCertificate = async () => {
    const mode = tlsModeOf(config) === "custom" ? "custom" : tlsMode;
    tlsMode = mode;
    if (mode === "letsencrypt") {
      const stored = loadStoredAcmeCertificate(acmeDir, config.domain);
      if (stored) return { certPem: stored.certPem, keyPem: stored.keyPem };
    }
    // A cluster presents one certificate on every node (kept in the database), so a client's
    // --ca file or pin holds wherever it fails over to.
    if (mode === "custom" && config.cluster.secret && (await restoreUploadedCertificate(db, config.tls))) {
      log.info(`restored the certificate uploaded in the dashboard from the database (${config.tls.certificate})`);
    }
    const cert =
      mode !== "custom" && config.cluster.secret
        ? await ensureSharedSelfSigned({ domain: config.domain, dataPath: config.dataPath }, clusterCertificateStore(db))
        : await ensureServerCertificate({ mode: mode === "custom" ? "custom" : "selfSigned", domain: config.domain, dataPath: config.dataPath, certificate: config.tls.certificate, privateKey: config.tls.privateKey });
    if (cert.generated) log.info(`generated a self-signed certificate for ${config.domain} and *.${config.domain} (${cert.certPath})`);
    if ("claimed" in cert) log.info(cert.claimed ? `this node's self-signed certificate is now the cluster's (${cert.fingerprint})` : `using the cluster's self-signed certificate (${cert.fingerprint})`);
    if (mode === "letsencrypt") log.info(`serving a self-signed certificate for ${config.domain} until Let's Encrypt issues one`);
    return { certPem: cert.certPem, keyPem: cert.keyPem };
  };
  /** (Re)starts the ACME renewer when the TLS mode is Let's Encrypt, stops it otherwise. */
  const syncAcmeRenewer = () => {
    renewer?.stop();
    renewer = undefined;
    onDemand?.stop();
    onDemand = undefined;
    if (tlsMode !== "letsencrypt") return;
    onDemand = startOnDemandCertificates({ config, dir: acmeDir, challenges, caPem: acmeCaPem, routes, sni: () => tlsListeners!.sni, limiter: onDemandLimiter, onOrder: metrics.acmeOrder, log });
    renewer = startAcmeRenewer({
      directoryUrl: config.acme.directoryUrl,
      email: config.acme.email,
      domain: config.domain,
      dir: acmeDir,
      challenges,
      caPem: acmeCaPem,
      dnsHook: config.acme.dnsHook || undefined,
      onCertificate(pair) {
        if (pair.certPem === certSource.current().certPem) return;
        certSource.set(pair); // the TLS listeners follow the source (lib/edge/tls-listeners.ts)
        socks.apply();
      },
      onOrder: metrics.acmeOrder,
      log,
    });
  };
  const certSource = createCertificateSource(await loadServerCertificate());
  const tlsOptions = () => ({ cert: certSource.current().certPem, key: certSource.current().keyPem });
  // Cluster mode: live (heartbeat) before any listener accepts a tunnel.
  const cluster = clusterSettings
    ? await startClusterMembership({ db, settings: clusterSettings, started, certificatePem: () => certSource.current().certPem, log })
    : undefined;

  // prom-client is loaded only when listen.metrics asks for it (several MiB resident otherwise spent on nothing).
  const serverMetrics = config.listen.metrics ? (await import("./metrics.ts")).createServerMetrics({
    tunnelsByState: () => countTunnelsByState(db),
    connectedTunnels: () => [...tunnels.registry.all()].filter((t) => t.online).length,
    openStreams: () => {
      let n = 0;
      for (const t of tunnels.registry.all()) n += t.control.streamCount + t.pool.streamCount;
      return n;
    },
    peerSessions: () => peering?.engine.links.connectedNodes().length ?? 0,
  }) : undefined;
  const metrics: MetricHooks = serverMetrics ?? uncountedMetrics;
  const health = () =>
    healthResponse({
      async database() {
        dbFile?.check();
        await pingDatabase(db);
      },
      unboundListeners: () => (stopping ? ["all (stopping)"] : []),
    });
  const stats = metrics.countTraffic(createTrafficStats());
  let publicHttpsPort = config.listen.https;
  const relay = createLoopbackRelay();
  const tcpPorts = createTcpPortListeners({ hostname: config.listen.address, onConnection: (port, conn, remote) => router.onTcpConnection(port, conn, remote) });
  // Local tunnels' ports and (cluster mode) the other nodes' tunnels' ports: every node listens on all.
  const listenerPorts = createListenerPorts((opened, closed) => {
    tcpPorts.close(closed);
    for (const f of tcpPorts.open(opened)) log.warn(`cannot listen on port ${f.port}: ${f.error}`);
  });

  /** Names the server terminates itself: covered by its certificate, or on-demand tunnel names in Let's Encrypt mode. */
  const serverCertificateCovers = (host: string) => certificateCovers(certSource.current().certPem, host) || Boolean(onDemand?.handles(host));
  const policy = createLoginPolicy({ db, config, node, certificateCovers: serverCertificateCovers, locations: cluster?.locations });
  const tunnels = createTunnelServer({
    login: policy.login,
    checkRules: policy.checkRules,
    online: policy.online,
    offline: policy.offline,
    rulesChanged: policy.rulesChanged,
    portsChanged: (opened, closed) => listenerPorts.localChanged(opened, closed),
    meshStream: (tunnel, stream, meta) => mesh.serveStream(tunnel, stream, meta),
    monitorReport: (t, services) =>
      void saveServiceAvailability(db, t.tunnelId, services).catch((err) => log.warn(`monitor report of ${t.tunnelId} not saved: ${errorMessage(err)}`)),
    poolSize: () => config.tunOptions.maxPoolSize,
    monitorSeconds: () => (config.monitor.enabled ? config.monitor.intervalSeconds : 0),
    keepalive: keepaliveFromEnv(process.env.SPOKES_KEEPALIVE_MS),
    onWindowStall: metrics.windowStall,
    onLoginRefused: metrics.loginRefused,
    log,
  });
  cluster?.watch(() => [...tunnels.registry.all()].filter((t) => t.online));

  /** This node's own tunnels, for the web app (and, in cluster mode, for the other nodes' admin requests). */
  const localLive: LiveControl = {
    isOnline: (id) => Boolean(tunnels.registry.byId(id)?.online),
    announced: (id) => {
      const t = tunnels.registry.byId(id);
      return t ? { https: t.https, ports: t.ports } : undefined;
    },
    disconnect: (id, reason) => tunnels.disconnect(id, reason),
    tunnel: (id) => {
      const t = tunnels.registry.byId(id);
      return t?.online ? { config: t.config } : undefined;
    },
    applyChange: async (id, change) => {
      const t = tunnels.registry.byId(id);
      return t ? t.applyChange(change) : { ok: false, error: "tunnel is offline" };
    },
  };
  // Cluster mode: peer links and the other nodes' routes, over the membership's store (which
  // heartbeats this node and writes its tunnels' locations).
  const peering: ClusterPeering | undefined = cluster
    ? startClusterPeering({ settings: cluster.settings, store: cluster.store, tunnels, live: localLive, listenerPorts, metrics, keepalive: keepaliveFromEnv(process.env.SPOKES_KEEPALIVE_MS), log })
    : undefined;
  /** Where the routers send visitors: the local tunnels, and in cluster mode the other nodes' too. */
  const routes = peering?.routes ?? tunnels.registry;

  const mesh = createMeshResolver({
    routes,
    stats,
    allow: () => config.socks.allow,
    enabled: () => config.socks.enabled,
    protectedAddresses: ownAddresses(config.listen.address),
    log,
  });
  // Settings are read through the getter: after a dashboard change, `socks.apply()`
  // opens, moves or closes the listeners without a restart.
  const socks = createPublicSocksListeners({
    hostname: config.listen.address,
    settings: () => config.socks,
    tls: tlsOptions,
    dial: (target, client, caller) => mesh.dial(target, client.remoteAddress ?? "", caller),
    verifyToken: policy.verifySocksToken,
    stats,
    log,
  });

  const app = createWebApp({
    db,
    config: () => config,
    live: peering?.engine.live ?? localLive,
    settings: {
      async applied(sections: SettingsSection[]) {
        if (sections.includes("tls") || sections.includes("domain")) {
          certSource.set(await loadServerCertificate());
          socks.apply();
          syncAcmeRenewer();
        }
        if (sections.includes("socks")) socks.apply();
      },
    },
    startedAt: started,
    acmeChallenges: challenges,
  });

  // The web server (dashboard, APIs, tunnel endpoints) listens on loopback only: public
  // connections reach it through the HTTPS front door, which keeps their real address.
  // The tunnel endpoints exist on TLS only: over plain HTTP an auth token would travel in
  // clear, and that server has no WebSocket handler to upgrade with.
  // `decrypted`: the front door terminated the visitor's TLS and relayed the request in
  // plain HTTP over loopback, so the app is shown the https: URL the visitor used.
  const webFetch = async (req: Request, server: import("bun").Server<unknown>, tls = true, decrypted = false) => {
    const ip = server.requestIP(req);
    const remote = (ip && relay.remoteFor(ip.port)) ?? ip?.address ?? "";
    try {
      if (new URL(req.url).pathname === "/healthz") return await health();
      const peer = tls ? peering?.handle(req, server, remote) : undefined;
      // Undefined once upgraded (Bun answers the upgrade itself), as after tunnels.handle.
      if (peer) return peer.response as Response;
      return (
        (tls ? await tunnels.handle(req, server, remote) : undefined) ??
        (await app.fetch(decrypted ? new Request(req.url.replace(/^http:/, "https:"), req) : req, { remote }))
      );
    } catch (err) {
      log.warn(`web request failed: ${errorMessage(err)}`);
      return new Response("internal error", { status: 500 });
    }
  };
  // The server's own domain over plain HTTP only redirects to HTTPS (passwords, session
  // cookies and tokens never travel in clear); the ACME HTTP-01 path is the exception.
  const webHttp = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => {
      const url = new URL(req.url);
      // Load balancers probe over plain HTTP; ACME HTTP-01 validates over it.
      if (url.pathname.startsWith("/.well-known/acme-challenge/") || url.pathname === "/healthz") return webFetch(req, server as never, false);
      const port = publicHttpsPort === 443 ? "" : `:${publicHttpsPort}`;
      return Response.redirect(`https://${config.domain}${port}${url.pathname}${url.search}`, 301);
    },
  });

  // The loopback web server behind the front door and listen.tunnel's public one; the front
  // door terminates tunnel names itself with the same certificates.
  let tlsListeners: TlsListeners | undefined;
  const startTls = () =>
    (tlsListeners = startTlsListeners({
      certificates: certSource,
      fetch: (req, server, decrypted) => webFetch(req, server, true, decrypted),
      websocket: peering ? peering.websocket(tunnels.websocket) : tunnels.websocket,
      direct: config.listen.tunnel ? { hostname: config.listen.address, port: config.listen.tunnel } : undefined,
    }));

  const router = createEdgeRouter({
    routes,
    endpoints: peering?.endpoints ?? tunnels,
    stats,
    relay,
    domain: () => config.domain,
    certificateCovers: serverCertificateCovers,
    claimedDomain: async (host) => (await findDomainOwner(db, host, "")) !== null,
    webPlainPort: () => tlsListeners!.webPlainPort,
    webHttpPort: () => webHttp.port!,
    // An on-demand name's certificate is put in place (or ordered, bounded wait) before selection.
    selectCertificate: async (name) => {
      if (name) await onDemand?.prepare(name);
      return tlsListeners!.selectCertificate(name);
    },
    acmeChallenge: (token) => challenges.get(token),
    httpsPort: () => publicHttpsPort,
    onConnection: metrics.connection,
    log,
  });

  // A public port that cannot be opened fails the start with nothing left running: the
  // loopback servers already listening would otherwise keep the process alive after the error.
  const listenOrFail = <T>(what: string, port: number | string, fn: () => T, opened: { stop(force?: boolean): void }[] = []): T => {
    try {
      return fn();
    } catch (err) {
      for (const l of [...opened, webHttp]) l.stop(true);
      tlsListeners?.stop(true);
      peering?.stop();
      cluster?.halt();
      closeDb();
      const why = (err as { code?: string }).code === "EADDRINUSE" ? "address already in use" : errorMessage(err);
      throw new Error(`cannot listen on ${typeof port === "string" ? port : `${config.listen.address}:${port}`} (${what}): ${why}`);
    }
  };
  listenOrFail("listen.tunnel", config.listen.tunnel, startTls);
  const httpListener = listenOrFail("listen.http", config.listen.http, () =>
    Bun.listen<Slot>({
      hostname: config.listen.address,
      port: config.listen.http,
      allowHalfOpen: true,
      data: {},
      socket: bunSocketHandlers<Slot>((conn, socket) => {
        socket.setNoDelay(true);
        router.onHttpConnection(conn, socket.remoteAddress, false);
      }),
    }),
  );
  const httpsListener = listenOrFail(
    "listen.https",
    config.listen.https,
    () => createSniListener({ hostname: config.listen.address, port: config.listen.https, onHello: (sni, conn, initial) => router.onTlsHello(sni, conn, initial) }),
    [httpListener],
  );
  socks.apply();
  const metricsListener = config.listen.metrics
    ? listenOrFail("listen.metrics", config.listen.metrics, () => startMetricsListener({ at: config.listen.metrics, token: config.listen.metricsToken, registry: serverMetrics!.registry, health }), [httpListener, httpsListener])
    : undefined;

  const jobs = await startPeriodicJobs({ db, node, started, tunnels, stats, portRange: () => config.portRange, cluster: Boolean(cluster), log });
  const stopMemoryGovernor = startMemoryGovernor(() => {
    let n = 0;
    for (const t of tunnels.registry.all()) for (const s of t.pool.sessions) n += s.bytesIn + s.bytesOut;
    return n;
  });

  // After the listeners: the CA validates the challenge through the public HTTP port.
  syncAcmeRenewer();

  const httpPort = httpListener.port;
  const httpsPort = httpsListener.port;
  publicHttpsPort = httpsPort;
  log.success(`spokes ${VERSION} serving ${config.domain}: http ${config.listen.address}:${httpPort}, https ${config.listen.address}:${httpsPort} (tls: ${tlsMode})`);
  if (metricsListener) log.info(`metrics on http://${config.listen.metrics}/metrics${config.listen.metricsToken ? " (bearer token required)" : ""}, health on /healthz`);
  const directPort = tlsListeners!.directPort;
  if (directPort) log.info(`direct tunnel port ${config.listen.address}:${directPort} (clients: --hostname ${config.domain}:${directPort})`);

  return {
    httpPort,
    httpsPort,
    async stop() {
      stopping = true;
      jobs.stop();
      metricsListener?.stop();
      renewer?.stop();
      onDemand?.stop();
      stopMemoryGovernor();
      httpListener.stop(true);
      httpsListener.stop(true);
      socks.stop();
      tcpPorts.closeAll();
      peering?.stop();
      await tunnels.closeAll("server stopping");
      try {
        await jobs.flushStats();
        await cluster?.stop();
        await markNodeTunnelsOffline(db, node);
      } catch (err) {
        log.warn(`final flush failed: ${errorMessage(err)}`);
      }
      tlsListeners?.stop(true);
      webHttp.stop(true);
      closeDb();
    },
  };
}

/**
 * The server's own addresses beyond loopback (interfaces, and the listen address when it
 * is a specific one): the SOCKS allow-list protects them like loopback, so a broad entry
 * such as 10.0.0.0/8 does not open the server's own ports on 10.0.0.5.
 */
function ownAddresses(listenAddress: string): string[] {
  const all = [listenAddress, ...Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address))];
  return [...new Set(all.map((a) => parseIpLiteral(a)?.toString()).filter((a): a is string => Boolean(a) && a !== "0.0.0.0" && a !== "::"))];
}

/** Test hook: SPOKES_KEEPALIVE_MS shortens the tunnel heartbeat (timeout three intervals). */
function keepaliveFromEnv(value: string | undefined): { intervalMs: number; timeoutMs: number } | undefined {
  const ms = Number(value);
  return Number.isFinite(ms) && ms > 0 ? { intervalMs: ms, timeoutMs: 3 * ms } : undefined;
}

/** Test hook: SPOKES_ACME_CA_FILE names a PEM CA to trust for the ACME server's HTTPS (pebble's). */
function acmeCaFromEnv(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UserError(`cannot read SPOKES_ACME_CA_FILE ${path}: ${errorMessage(err)}`);
  }
}
