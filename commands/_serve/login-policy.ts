// Who may log in as a tunnel and what it may announce, as the database sees it: the
// token and tunnel checks of a tunnel login (and of a public SOCKS login with an auth
// token), the refusals of rules the tunnel may not have, and the records of a tunnel
// coming online, going offline and changing its rules. The tunnel server receives these
// as hooks; the refusal reasons are what the client prints.
import type { Database } from "../../db/client.ts";
import { findAuthTokenByValue } from "../../db/queries/auth-tokens.ts";
import { listTunnelPorts } from "../../db/queries/ports.ts";
import { checkTunnelLogin, claimDomain, markTunnelOffline, markTunnelOnline, saveAnnouncedServices } from "../../db/queries/live.ts";
import type { ServerConfig } from "../../lib/config/server-config.ts";
import { isHostname } from "../../lib/net/hostname.ts";
import type { MeshCaller } from "../../lib/tunnel/server/mesh-access.ts";
import type { CheckedRules, LiveTunnel, TunnelServerHooks } from "../../lib/tunnel/server/server.ts";

export interface LoginPolicyDeps {
  db: Database;
  config: ServerConfig;
  /** This server process (the node column of an online tunnel). */
  node: string;
  /** Whether the server's certificate covers a name (an HTTP rule without its own certificate is secure then). */
  certificateCovers(host: string): boolean;
  /** Cluster mode: where tunnels are, written when they come online or change rules, cleared when they go (cluster-store.ts). */
  locations?: TunnelLocations;
}

/** A cluster node's records of its tunnels' locations. */
export interface TunnelLocations {
  save(tunnel: LiveTunnel): Promise<void>;
  clear(tunnel: LiveTunnel): Promise<void>;
}

export type LoginPolicy = Pick<TunnelServerHooks, "login" | "checkRules" | "online" | "offline" | "rulesChanged"> & {
  /** A public SOCKS login with an auth token: the token's tunnel (its id and user, for mesh access lists), or undefined to refuse. */
  verifySocksToken(value: string): Promise<MeshCaller | undefined>;
};

export function createLoginPolicy({ db, config, node, certificateCovers, locations }: LoginPolicyDeps): LoginPolicy {
  return {
    login: async (key) => checkTunnelLogin(db, key),
    async checkRules(login, https, ports): Promise<CheckedRules> {
      const refused: CheckedRules["refused"] = [];
      const okHttps = [];
      for (const rule of https) {
        if (!isHostname(rule.domain) || rule.domain === config.domain) {
          refused.push({ rule: rule.domain, reason: `domain ${rule.domain} is not allowed` });
          continue;
        }
        // The claim is the database's unique index: two nodes announcing one domain at once cannot both get it.
        if (!(await claimDomain(db, { id: login.tunnelId, userId: login.userId }, rule.domain))) {
          refused.push({ rule: rule.domain, reason: `domain ${rule.domain} is claimed by another tunnel` });
          continue;
        }
        okHttps.push(rule);
      }
      const owned = new Set((await listTunnelPorts(db, login.tunnelId)).map((p) => p.port));
      const okPorts = [];
      for (const rule of ports) {
        if (!owned.has(rule.port)) refused.push({ rule: String(rule.port), reason: `port ${rule.port} is not allocated to this tunnel` });
        else okPorts.push(rule);
      }
      return { https: okHttps, ports: okPorts, refused };
    },
    online: (t) => markTunnelOnline(db, t.tunnelId, { address: t.address, ...t.info, node }),
    async offline(t) {
      await locations?.clear(t);
      await markTunnelOffline(db, t.tunnelId, node);
    },
    // Called at login (after `online`) and on every rules change: the location carries the routes.
    async rulesChanged(t, cfg) {
      await saveAnnouncedServices(
        db,
        { id: t.tunnelId, userId: t.userId },
        t.https.map((h) => ({ domain: h.domain, secure: h.ownCertificate || certificateCovers(h.domain), available: h.available !== false })),
        t.ports.filter((p) => p.forwarded).map((p) => ({ port: p.port, available: true })),
        cfg,
      );
      await locations?.save(t);
    },
    async verifySocksToken(value) {
      // findAuthTokenByValue compares in constant time; checkTunnelLogin adds the
      // active-token and tunnel-not-shut-down checks of a tunnel login.
      const token = await findAuthTokenByValue(db, value);
      if (!token?.active) return undefined;
      const login = await checkTunnelLogin(db, token.value);
      return login.ok ? { tunnelId: login.login.tunnelId, userId: login.login.userId, userName: login.login.userName } : undefined;
    },
  };
}
