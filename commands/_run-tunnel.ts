// Runs the tunnel in the foreground until SIGINT/SIGTERM, for `pktriot start` and quick
// mode (`pktriot http|tcp`): the engine with the configuration file's server trust,
// remote management saved to the file, live reload when the file changes, and a clean
// stop that first lets quick mode take its temporary rule back.
import { consola } from "consola";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { LETS_ENCRYPT_DIRECTORY_URL, clientDataDir, loadClientConfig, updateClientConfig, watchClientConfig, type ClientConfig } from "../lib/client-config/index.ts";
import type { RuleCertificatesOptions } from "../lib/tunnel/client/rule-certificates.ts";
import { pruneCertificateUploads, storeCertificateUploads } from "../lib/client-config/certificate-upload.ts";
import { verifyPassword } from "../lib/http/basic-auth.ts";
import { applyRemoteChange, parseRemoteChange } from "../lib/client-config/remote-change.ts";
import { configuredServers } from "../lib/client-api/server-host.ts";
import { fetchTlsOptions, trustFromConfig, INSECURE_WARNING } from "../lib/client-api/trust.ts";
import { UserError, errorMessage } from "../lib/errors.ts";
import { createTunnelClient, type TunnelClient } from "../lib/tunnel/client/client.ts";
import { localPortProblem } from "../lib/tunnel/client/mesh-listeners.ts";
import { VERSION } from "../lib/version.ts";
import { logUnexpectedErrors } from "./_shared.ts";

export interface ForegroundTunnelOptions {
  /** The configuration file (already holding any rule the run adds). */
  path: string;
  /** Each time the tunnel comes online. */
  onOnline?(client: TunnelClient): void;
  /**
   * On SIGINT/SIGTERM, while the tunnel is still connected: quick mode removes its
   * temporary rule here so the server forgets it too. Errors are logged, not fatal.
   */
  beforeStop?(client: TunnelClient): Promise<void>;
}

/** A positive number of milliseconds from the environment, or undefined. */
const envMs = (name: string): number | undefined => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
};

/**
 * A remote `portmap/update` on a local port another program holds would be saved and
 * answered "applied" while nothing listens; refuse it as `ports map` does. Ports this
 * client already maps are its own listeners, not a conflict.
 */
function checkRemotePortMaps(current: ClientConfig, change: unknown): void {
  const c = parseRemoteChange(change);
  if (c.kind !== "portmap/update") return;
  const mine = new Set(current.portmaps.map((m) => m.listenPort));
  if (current.socks.listenPort) mine.add(current.socks.listenPort);
  for (const m of c.portmaps) {
    const problem = mine.has(m.listenPort) ? undefined : localPortProblem(m.listenPort);
    if (problem) throw new UserError(problem);
  }
}

/**
 * Let's Encrypt on the client: files next to the configuration (`<config dir>/acme/`),
 * the CA from the file's `acme` object, PKTRIOT_ACME_DIRECTORY_URL / PKTRIOT_ACME_EMAIL
 * overriding it; PKTRIOT_ACME_CA_FILE and the timing variables are test hooks.
 */
function letsEncryptOptions(path: string, config: ClientConfig): RuleCertificatesOptions {
  const caFile = process.env.PKTRIOT_ACME_CA_FILE?.trim();
  let caPem: string | undefined;
  if (caFile) {
    try {
      caPem = readFileSync(caFile, "utf8");
    } catch (err) {
      throw new UserError(`PKTRIOT_ACME_CA_FILE ${caFile}: ${errorMessage(err)}`);
    }
  }
  return {
    dir: join(clientDataDir(path), "acme"),
    directoryUrl: process.env.PKTRIOT_ACME_DIRECTORY_URL?.trim() || config.acme?.directoryUrl || LETS_ENCRYPT_DIRECTORY_URL,
    email: process.env.PKTRIOT_ACME_EMAIL?.trim() || config.acme?.email || "",
    caPem,
    renewBeforeMs: envMs("PKTRIOT_ACME_RENEW_BEFORE_MS"),
    checkEveryMs: envMs("PKTRIOT_ACME_CHECK_MS"),
    retryMinMs: envMs("PKTRIOT_ACME_RETRY_MIN_MS"),
  };
}

export async function runTunnelInForeground(opts: ForegroundTunnelOptions): Promise<never> {
  const { path } = opts;
  const config = loadClientConfig(path);
  if (!config.key || !config.serverHost) throw new UserError(`${path} has no server or key; run pktriot unmanaged configure first`);
  // The server, then the other nodes of its cluster (failoverHosts), by their wss:// URL.
  const servers = new Map(configuredServers(config).map((s) => [`wss://${s.hostPort}`, s]));
  const [serverUrl, ...failoverUrls] = servers.keys();
  const trust = trustFromConfig(config);
  if (trust.kind === "insecure") consola.warn(INSECURE_WARNING);

  // Test hooks: a shorter reconnect backoff and heartbeat (timeout three intervals).
  const backoffMax = envMs("PKTRIOT_BACKOFF_MAX_MS");
  const keepaliveMs = envMs("PKTRIOT_KEEPALIVE_MS");
  const poolIdleMs = envMs("PKTRIOT_POOL_IDLE_MS");
  const client = createTunnelClient({
    serverUrl: serverUrl!,
    failoverUrls,
    key: config.key,
    tls: async (url) => (await fetchTlsOptions(servers.get(url)!, trust, 15_000)) as Record<string, unknown> | undefined,
    info: { os: process.platform, arch: process.arch, version: VERSION },
    config,
    verifyPassword,
    // Remote management (SPEC 2.3): apply, validate and save; the engine re-announces.
    applyRemoteChange: async (change) => {
      const dataDir = clientDataDir(path);
      const { config: next } = await updateClientConfig(path, (current) => {
        checkRemotePortMaps(current, change);
        // Uploaded certificates become files in the data directory; the config keeps their paths.
        const stored = storeCertificateUploads(parseRemoteChange(change), dataDir, current);
        const changed = applyRemoteChange(current, stored);
        Object.assign(current, changed);
      });
      for (const removed of pruneCertificateUploads(dataDir, next)) consola.debug(`removed unused certificate file ${removed}`);
      consola.info("applied a rule change from the server");
      return next;
    },
    backoff: backoffMax ? { minMs: Math.min(1000, backoffMax), maxMs: backoffMax } : undefined,
    keepalive: keepaliveMs ? { intervalMs: keepaliveMs, timeoutMs: 3 * keepaliveMs } : undefined,
    poolIdleCheckMs: poolIdleMs,
    letsEncrypt: letsEncryptOptions(path, config),
    log: { info: (m) => consola.info(m), warn: (m) => consola.warn(m), error: (m) => consola.error(m) },
    onState: (state, detail) => {
      if (state === "connecting") consola.info(`connecting to ${servers.get(detail ?? "")?.hostPort ?? detail}`);
      else if (state === "offline" && detail) consola.debug(detail);
      else if (state === "online") opts.onOnline?.(client);
    },
  });
  const watcher = watchClientConfig(path, (next) => {
    consola.info("configuration changed; applying");
    void client.setConfig(next);
  }, { onError: (err) => consola.warn(`configuration change ignored: ${errorMessage(err)}`) });

  consola.info(`pktriot ${VERSION} using ${path}`);
  client.start();
  let stopping = false;
  const stop = async (signal: string) => {
    // A second signal while cleaning up means "now".
    if (stopping) process.exit(1);
    stopping = true;
    consola.info(`${signal}: stopping`);
    watcher.close();
    try {
      await opts.beforeStop?.(client);
    } catch (err) {
      consola.error(errorMessage(err));
    }
    await client.stop();
    process.exit(0);
  };
  logUnexpectedErrors(consola);
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  return new Promise<never>(() => {});
}
