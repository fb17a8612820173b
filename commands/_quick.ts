// Quick mode (SPEC 3.3): `pktriot http PORT` and `pktriot tcp PORT` add a temporary rule
// to the configured tunnel, run it in the foreground, print where it is reachable, and
// take the rule back on SIGINT/SIGTERM. The rule is saved in the configuration file while
// it runs (so live reload and remote management keep it), and removed while the tunnel
// is still connected, so the server forgets it too.
import { consola } from "consola";
import { randomBytes } from "node:crypto";
import { parseServerHost, type ServerAddress } from "../lib/client-api/index.ts";
import { updateClientConfig, type ClientConfig } from "../lib/client-config/index.ts";
import { UserError } from "../lib/errors.ts";
import { runTunnelInForeground } from "./_run-tunnel.ts";
import type { ClientContext } from "./_client-context.ts";

export interface TemporaryRule {
  /** What the rule is, for messages: `HTTP rule for D`, `port 22001`. */
  name: string;
  /** Where visitors reach it; printed on its own line once the tunnel is online. */
  address: string;
  /** Where it forwards to, for the log line. */
  target: string;
  /** Adds the rule to the configuration (throws rather than replace one of the user's). */
  add(config: ClientConfig): void;
  remove(config: ClientConfig): void;
  /** After the rule left the configuration and the server: give back what the server lent (a port). */
  release?(): Promise<void>;
}

/** How long a stop waits for the server to take the configuration without the rule. */
const FORGET_TIMEOUT_MS = 5000;

/** A fresh first label for `<random>.<server domain>`: 8 lowercase hex characters. */
export function randomLabel(): string {
  return randomBytes(4).toString("hex");
}

/**
 * The public URL of an HTTP rule. Names under the server's domain are served over HTTPS
 * by the server's (wildcard) certificate, on the port the client reaches it on; another
 * domain is pointed at the server by its owner and is shown as plain HTTP, since the
 * server's certificate does not cover it.
 */
export function publicHttpUrl(domain: string, serverDomain: string, server: ServerAddress): string {
  if (serverDomain && domain.endsWith(`.${serverDomain}`)) return `https://${domain}${server.port === 443 ? "" : `:${server.port}`}`;
  return `http://${domain}`;
}

/** `host:port` of an allocated port, on the host the client reaches the server by. */
export function publicTcpAddress(serverHost: string, port: number): string {
  const { host } = parseServerHost(serverHost);
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

const withTimeout = (p: Promise<void>, ms: number) =>
  Promise.race([p, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);

export async function runQuickTunnel(ctx: ClientContext, rule: TemporaryRule): Promise<never> {
  try {
    await updateClientConfig(ctx.path, rule.add);
  } catch (err) {
    await rule.release?.().catch(() => {});
    throw err;
  }
  let announced = false;
  return runTunnelInForeground({
    path: ctx.path,
    onOnline() {
      if (announced) return;
      announced = true;
      consola.info(`forwarding ${rule.address} to ${rule.target}; the temporary ${rule.name} is removed when stopped (Ctrl-C)`);
      console.log(rule.address);
    },
    async beforeStop(client) {
      const { config } = await updateClientConfig(ctx.path, (c) => rule.remove(c));
      await withTimeout(client.setConfig(config), FORGET_TIMEOUT_MS);
      await rule.release?.();
      consola.info(`removed the temporary ${rule.name}`);
    },
  });
}

/** A temporary rule must not replace one the user keeps: refuse a name or port already in the file. */
export function refuseExisting(found: boolean, what: string): void {
  if (found) throw new UserError(`${what} already exists in this configuration; quick mode only adds temporary rules (use pktriot start to serve it)`);
}
