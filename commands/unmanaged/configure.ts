import { accessSync, constants, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { defineCommand } from "citty";
import {
  UntrustedCertificateError,
  createClientApi,
  fetchPeerCertificate,
  formatFingerprint,
  parseServerHosts,
  pinTrust,
  readServerCa,
  type ServerAddress,
  type ServerTrust,
} from "../../lib/client-api/index.ts";
import { chooseClientConfigPath, defaultClientConfig, loadClientConfigIfExists, saveClientConfig } from "../../lib/client-config/index.ts";
import { isHostname } from "../../lib/net/hostname.ts";
import { UserError, errorMessage } from "../../lib/errors.ts";
import { warnInsecure } from "../_client-context.ts";
import { configArgs, configFlag, oneOf, requireValue } from "../_shared.ts";
import { askConfigPath, askTrustServer } from "./_prompts.ts";

interface Authorized {
  key: string;
  tunnelID: string;
  hostname: string;
}

/** `--hostname a[:port][,b[:port]...]`: the server, then the cluster nodes tried after it. */
function serverArg(value: unknown): ServerAddress[] {
  const v = requireValue(value, "hostname");
  try {
    return parseServerHosts(v);
  } catch (err) {
    throw new UserError(`--hostname ${JSON.stringify(v)} ${errorMessage(err)}`);
  }
}

function trustArg(args: { ca?: string; fingerprint?: string; insecure?: boolean }): { trust: ServerTrust; caPath: string } {
  const given = [args.ca !== undefined && "--ca", args.fingerprint !== undefined && "--fingerprint", args.insecure && "--insecure"].filter(Boolean);
  if (given.length > 1) throw new UserError(`give only one of ${given.join(", ")}`, 2);
  if (args.ca !== undefined) {
    const caPath = resolve(requireValue(args.ca, "ca"));
    return { trust: { kind: "ca", caPem: readServerCa(caPath), caPath }, caPath };
  }
  if (args.fingerprint !== undefined) return { trust: pinTrust(requireValue(args.fingerprint, "fingerprint")), caPath: "" };
  if (args.insecure) return { trust: { kind: "insecure" }, caPath: "" };
  return { trust: { kind: "public" }, caPath: "" };
}

/** Fails before anything is sent when the config could not be written afterwards. */
function checkWritable(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot write config file ${path}: ${code === "EACCES" || code === "EPERM" ? "permission denied" : errorMessage(err)}`);
  }
}

/**
 * An untrusted certificate under default trust: show its fingerprint and let the person
 * pin it (trust on first use). Without a TTY nobody can compare the fingerprint, so fail.
 */
async function trustOnFirstUse(server: ServerAddress, err: UntrustedCertificateError): Promise<ServerTrust> {
  const peer = await fetchPeerCertificate(server);
  const fp = formatFingerprint(peer.fingerprint);
  if (!process.stdin.isTTY) {
    throw new UserError(`the certificate of server ${server.hostPort} is not trusted (${err.reason}; fingerprint ${fp}); pass --ca FILE, --fingerprint ${fp} after checking it, or --insecure`);
  }
  if (!(await askTrustServer(fp, peer.subject))) throw new UserError("server certificate not trusted; nothing was changed");
  return pinTrust(peer.fingerprint);
}

export default defineCommand({
  meta: { name: "configure", alias: ["configuration"], description: "Register this client with a Spokes server (or check an existing key) and write the configuration" },
  args: {
    ...configArgs,
    hostname: {
      type: "string",
      description: "Server as SERVER[:PORT] (port 443 by default); a cluster's nodes comma separated, tried in turn when one cannot be reached",
      valueHint: "SERVER[:PORT][,...]",
    },
    registration: { type: "string", description: "Registration token from the server's admin", valueHint: "TOKEN" },
    key: { type: "string", description: "An existing auth token (checked with the server)", valueHint: "TOKEN" },
    id: { type: "string", description: "User id to register the tunnel for (with --registration)", valueHint: "ID" },
    "tunnel-hostname": { type: "string", description: "Hostname to request for the tunnel (with --registration)", valueHint: "HOST" },
    ca: { type: "string", description: "Trust this CA / self-signed certificate PEM for the server", valueHint: "FILE" },
    fingerprint: { type: "string", description: "Pin the server certificate (SHA-256 of its DER)", valueHint: "sha256:HEX" },
    insecure: { type: "boolean", description: "Do not verify the server certificate (dangerous)" },
  },
  async run({ args }) {
    const [first, ...failover] = serverArg(args.hostname);
    let server = first!;
    const cred = oneOf(args, "registration", "key");
    if (cred.flag === "key" && (args.id || args["tunnel-hostname"])) throw new UserError("--id and --tunnel-hostname apply only with --registration", 2);
    const tunnelHostname = typeof args["tunnel-hostname"] === "string" ? args["tunnel-hostname"].trim().toLowerCase() : "";
    if (tunnelHostname && !isHostname(tunnelHostname)) throw new UserError(`--tunnel-hostname ${JSON.stringify(tunnelHostname)} is not a valid host name`);
    const id = typeof args.id === "string" ? args.id.trim() : "";
    let { trust, caPath } = trustArg(args);
    if (trust.kind === "insecure") warnInsecure();

    const path = await chooseClientConfigPath({ flag: configFlag(args), isTTY: Boolean(process.stdin.isTTY), choose: askConfigPath });
    const existing = loadClientConfigIfExists(path);
    checkWritable(path);

    // The first node that answers registers (or checks) the key; `server` follows it.
    const authorize = async (t: ServerTrust): Promise<Authorized> => {
      const api = createClientApi({ server, failover, trust: t, ...(cred.flag === "key" ? { key: cred.value } : {}) });
      try {
        if (cred.flag === "key") return { key: cred.value, ...(await api.auth()) };
        return await api.register({ token: cred.value, id, hostname: tunnelHostname });
      } finally {
        server = api.server;
      }
    };
    let result: Authorized;
    try {
      result = await authorize(trust);
    } catch (err) {
      if (!(err instanceof UntrustedCertificateError) || trust.kind !== "public") throw err;
      trust = await trustOnFirstUse(server, err);
      result = await authorize(trust);
    }

    const config = existing ?? defaultClientConfig();
    // Port allocations belong to a tunnel; a different tunnel cannot use the old ones.
    const droppedPorts = existing && existing.tunnelID !== result.tunnelID ? existing.ports.length : 0;
    saveClientConfig(path, {
      ...config,
      serverHost: first!.hostPort,
      failoverHosts: failover.length ? failover.map((s) => s.hostPort) : undefined,
      key: result.key,
      tunnelID: result.tunnelID,
      hostname: result.hostname,
      serverKey: trust.kind === "pin" ? formatFingerprint(trust.fingerprint) : "",
      ca: caPath,
      insecure: trust.kind === "insecure",
      unmanaged: true,
      os: process.platform,
      arch: process.arch,
      ports: droppedPorts ? [] : config.ports,
    });

    console.log(`Tunnel configured. Tunnel ID: ${result.tunnelID}`);
    if (result.hostname) console.log(`Hostname: ${result.hostname}`);
    if (failover.length) console.log(`Failover: ${failover.map((s) => s.hostPort).join(", ")}`);
    console.log(`Server: ${first!.hostPort}${trust.kind === "pin" ? ` (pinned ${formatFingerprint(trust.fingerprint)})` : trust.kind === "ca" ? ` (CA ${caPath})` : trust.kind === "insecure" ? " (certificate NOT verified)" : ""}`);
    if (droppedPorts) console.log(`Dropped ${droppedPorts} TCP port allocation(s) of the previous tunnel`);
    console.log(`Configuration saved to ${path}`);
  },
});
