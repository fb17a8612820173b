// `SERVER[:PORT]` as given to `--hostname` and stored in `serverHost`.
import { isIP } from "node:net";
import { isHostname } from "../net/hostname.ts";

export interface ServerAddress {
  host: string;
  port: number;
  /** `host:port` (`[v6]:port`), the form stored and shown. */
  hostPort: string;
  /** Connecting by address: certificates name domains, so there is no name to check. */
  isAddress: boolean;
}

export const DEFAULT_SERVER_PORT = 443;

/** Throws an Error whose message completes "`--hostname X` ..." (callers add the prefix). */
export function parseServerHost(input: string, defaultPort = DEFAULT_SERVER_PORT): ServerAddress {
  let value = input.trim().toLowerCase();
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(value)) {
    // Accept a pasted URL (https://spokes.example.com/) but only its authority.
    if (!value.startsWith("https://")) throw new Error("must be a host name (the server is reached over HTTPS)");
    value = value.slice("https://".length).replace(/\/.*$/, "");
  }
  let host = value;
  let portText: string | undefined;
  const v6 = value.match(/^\[([^\]]+)\](?::(.*))?$/);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
    if (isIP(host) !== 6) throw new Error("is not a valid IPv6 address");
  } else if ((value.match(/:/g) ?? []).length === 1) {
    [host, portText] = value.split(":") as [string, string];
  } else if (isIP(value) === 6) {
    host = value;
  }
  if (!host) throw new Error("needs a host name");
  if (!isIP(host) && !isHostname(host)) throw new Error("is not a valid host name");
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) throw new Error(`has an invalid port (${JSON.stringify(portText)}); use a number between 1 and 65535`);
    port = Number(portText);
  }
  const isAddress = isIP(host) !== 0;
  const hostPort = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  return { host, port, hostPort, isAddress };
}

/**
 * A comma-separated list of `SERVER[:PORT]` (the nodes of a cluster, in the order they are
 * tried), repeats dropped. Throws like parseServerHost, naming the entry when there are several.
 */
export function parseServerHosts(input: string, defaultPort = DEFAULT_SERVER_PORT): ServerAddress[] {
  const entries = input.split(",").map((s) => s.trim());
  const out = new Map<string, ServerAddress>();
  for (const entry of entries) {
    if (!entry && entries.length > 1) throw new Error("has an empty entry in its list");
    try {
      const address = parseServerHost(entry, defaultPort);
      out.set(address.hostPort, address);
    } catch (err) {
      throw entries.length > 1 ? new Error(`entry ${JSON.stringify(entry)} ${(err as Error).message}`) : err;
    }
  }
  return [...out.values()];
}

/** Every address a configured client tries, in order: `serverHost`, then `failoverHosts`. */
export function configuredServers(config: { serverHost: string; failoverHosts?: string[] }): ServerAddress[] {
  return parseServerHosts([config.serverHost, ...(config.failoverHosts ?? [])].join(","));
}
