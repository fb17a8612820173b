// What the web app (dashboard, Admin API, client API) needs from the running server.
// commands/_serve/edge-server.ts provides these; tests pass fakes.
import type { Database } from "../db/client.ts";
import type { ChallengeStore } from "../lib/acme/challenge-store.ts";
import type { ServerConfig } from "../lib/config/server-config.ts";
import type { ServerSettingsPatch, SettingsSection } from "../lib/config/server-settings.ts";
import type { RemoteChange } from "../lib/client-config/remote-change.ts";
import type { ClientApiDeps, LiveTunnels } from "./client-api.ts";

export type { RemoteChange };

/** The live side of one online tunnel, as the engine holds it. */
export interface LiveTunnelView {
  /** The client's traffic configuration as it last announced it (SPEC 3.1 shape). */
  config: unknown;
}

export interface ApplyResult {
  ok: boolean;
  error?: string;
}

export interface WebLiveTunnels extends LiveTunnels {
  /** The online tunnel's live state, or undefined when it is offline (in a cluster: asked of the node holding it). */
  tunnel?(tunnelId: string): LiveTunnelView | undefined | Promise<LiveTunnelView | undefined>;
  /**
   * Sends `{type:"apply", requestId, change}` to the online client and resolves with its
   * `applied` answer (after the client saved the change and re-announced its rules).
   * Resolves `{ok:false, error}` when the tunnel is offline or the client does not
   * answer in time; never rejects for those.
   */
  applyChange?(tunnelId: string, change: RemoteChange): Promise<ApplyResult>;
}

export interface SettingsHooks {
  /**
   * Called after a dashboard settings change was validated, saved in the database and
   * merged into the configuration object that `config()` returns. Makes the change
   * effective where reading `config()` is not enough: swap the TLS certificate (tls or
   * domain changed), open/close the SOCKS listeners (socks changed). A rejection is shown
   * to the admin ("saved, but not applied: ...").
   */
  applied(sections: SettingsSection[], patch: ServerSettingsPatch): Promise<void>;
}

export interface WebAppDeps extends ClientApiDeps {
  live: WebLiveTunnels;
  settings?: SettingsHooks;
  /** First-run secret (SPEC 2.1 ADMIN_SECRET); defaults to process.env.ADMIN_SECRET. */
  adminSecret?: () => string | undefined;
  /** When the server started (Admin API `info.uptime`); defaults to when the app was made. */
  startedAt?: number;
  /** Lifetime of an Admin API page set; defaults to SPOKES_PAGE_TTL_MS or 720 s. */
  pageTtlMs?: number;
  now?: () => number;
  /** Pending ACME HTTP-01 challenges, answered at /.well-known/acme-challenge/<token>. */
  acmeChallenges?: Pick<ChallengeStore, "get">;
}
