// The server's public SOCKS5 listeners (SPEC 2.3): `socks.port` plain and `socks.tlsPort`
// SOCKS inside TLS with the server certificate. The settings are read through a getter and
// `apply()` opens, keeps or closes listeners to match them, so a dashboard change takes
// effect without a restart. Destinations are decided by the injected `dial` (the mesh
// resolver); tokens are checked by the injected `verifyToken` (the database, in serve).
import type { Logger } from "../log.ts";
import type { TLSOptions } from "bun";
import type { DialResult, SocksTarget } from "../socks/handshake.ts";
import { createFailureLimiter, type FailureLimiter } from "../socks/failure-limiter.ts";
import { createSocksListener, type SocksListener } from "../socks/listener.ts";
import type { SocksClientInfo, SocksServerAuth, SocksSessionRecord } from "../socks/server.ts";
import type { TrafficStats } from "../stats/traffic-stats.ts";
import type { MeshCaller } from "../tunnel/server/mesh-access.ts";

export interface PublicSocksSettings {
  enabled: boolean;
  /** 0: no plain listener. */
  port: number;
  /** 0: no TLS listener. */
  tlsPort: number;
  auth: "token" | "none";
}

export interface PublicSocksOptions {
  hostname: string;
  settings(): PublicSocksSettings;
  /** The server certificate, read when the TLS listener opens. */
  tls(): TLSOptions;
  /** `caller`: the tunnel of the auth token the client logged in with; undefined with auth "none". */
  dial(target: SocksTarget, client: SocksClientInfo, caller: MeshCaller | undefined): Promise<DialResult>;
  /** The tunnel of an active auth token (tunnel not shut down), else undefined. Must compare in constant time. */
  verifyToken(token: string): Promise<MeshCaller | undefined>;
  stats: TrafficStats;
  limiter?: FailureLimiter;
  log: Logger;
}

export interface PublicSocksListeners {
  /** Bound ports (0 when closed); for logs and tests. */
  readonly port: number;
  readonly tlsPort: number;
  /**
   * Matches the listeners to the settings. Throws when a port cannot be opened, naming
   * the setting; listeners already matching stay as they are.
   */
  apply(): void;
  stop(): void;
}

type Slot = { listener: SocksListener; port: number; auth: string } | undefined;

export function createPublicSocksListeners(opts: PublicSocksOptions): PublicSocksListeners {
  const limiter = opts.limiter ?? createFailureLimiter();
  // The tunnel a session authenticated as, for its mesh access checks and its connection
  // record. Keyed by the per-connection info object the listener passes to verify, dial and onSession.
  const sessionTunnel = new WeakMap<SocksClientInfo, MeshCaller>();

  const tokenAuth: SocksServerAuth = {
    async verify(_username, password, client) {
      const address = client.remoteAddress ?? "";
      if (limiter.blocked(address)) return false;
      const found = password ? await opts.verifyToken(password) : undefined;
      if (!found) {
        limiter.failed(address);
        if (limiter.blocked(address)) opts.log.warn(`SOCKS authentication from ${address} failing repeatedly; refusing it for a while`);
        return false;
      }
      limiter.succeeded(address);
      sessionTunnel.set(client, found);
      return true;
    },
  };

  const onSession = (record: SocksSessionRecord) => {
    if (record.reply !== 0 || !record.target) return;
    opts.stats.recordConnection({
      tunnelId: sessionTunnel.get(record.client)?.tunnelId ?? "",
      service: `${record.target.host}:${record.target.port}`,
      protocol: "socks",
      remoteAddress: record.client.remoteAddress ?? "",
      bytesIn: record.bytesUp,
      bytesOut: record.bytesDown,
      started: record.startedAt.getTime(),
      durationMs: record.durationMs,
    });
  };

  let plain: Slot;
  let secure: Slot;

  const open = (setting: string, port: number, auth: PublicSocksSettings["auth"], tls: boolean): Slot => {
    try {
      const listener = createSocksListener({
        hostname: opts.hostname,
        port,
        auth: auth === "none" ? "none" : tokenAuth,
        dial: (target, { client }) => opts.dial(target, client, sessionTunnel.get(client)),
        onSession,
        ...(tls ? { tls: opts.tls() } : {}),
      });
      opts.log.info(`SOCKS5${tls ? " over TLS" : ""} on ${opts.hostname}:${listener.port} (auth: ${auth})`);
      return { listener, port, auth };
    } catch (err) {
      throw new Error(`cannot listen on ${opts.hostname}:${port} (${setting}): ${err instanceof Error ? err.message : err}`);
    }
  };

  /** Keeps a listener whose port and auth mode are unchanged; replaces or closes it otherwise. */
  const reconcile = (slot: Slot, setting: string, port: number, auth: PublicSocksSettings["auth"], tls: boolean): Slot => {
    if (slot && slot.port === port && slot.auth === auth) return slot;
    // Sessions already relaying keep going; only new connections see the change.
    slot?.listener.stop(false);
    return port ? open(setting, port, auth, tls) : undefined;
  };

  return {
    get port() {
      return plain?.listener.port ?? 0;
    },
    get tlsPort() {
      return secure?.listener.port ?? 0;
    },
    apply() {
      const s = opts.settings();
      // A slot that failed to reopen was already stopped: forget it, try the other one, then report.
      let error: unknown;
      try {
        plain = reconcile(plain, "socks.port", s.enabled ? s.port : 0, s.auth, false);
      } catch (err) {
        plain = undefined;
        error = err;
      }
      try {
        secure = reconcile(secure, "socks.tlsPort", s.enabled ? s.tlsPort : 0, s.auth, true);
      } catch (err) {
        secure = undefined;
        error ??= err;
      }
      if (error) throw error;
    },
    stop() {
      plain?.listener.stop(true);
      secure?.listener.stop(true);
      plain = secure = undefined;
    },
  };
}
