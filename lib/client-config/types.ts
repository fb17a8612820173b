// Shapes of the client configuration file (SPEC 3.1). Key names follow the original
// client's file so the server can hand it back (`tunnel/config/{id}`) and admins can
// edit it remotely; do not rename them.
import type { FirewallRule } from "../http/firewall.ts";

export type { FirewallRule };

export interface HttpRule {
  domain: string;
  /** Served over HTTPS (Let's Encrypt, a custom certificate, TLS pass-through or the server's certificate). */
  secure: boolean;
  destination: string;
  /** Local HTTP port to proxy to (0: none). */
  port: number;
  /**
   * Local TLS port the visitor's TLS is passed through to untouched (0: none): nobody
   * between the visitor and this upstream decrypts, the visitor sees its certificate.
   */
  tls: number;
  /**
   * Local HTTPS port requests are re-encrypted to (0: none): TLS ends at the server (or at
   * this client with `ca`/`useLetsEnc`) and a new TLS connection goes to the upstream,
   * verified unless `insecureUpstream`. Not in the original client's file; absent means 0.
   */
  httpsUpstream: number;
  webRoot: string;
  useLetsEnc: boolean;
  /** Path of the certificate chain PEM this client terminates TLS with. */
  ca: string;
  /** Path of the private key PEM that pairs with `ca`. */
  privateKey: string;
  redirect: boolean;
  /** Salted hash (argon2id PHC string), never the password itself. */
  password: string;
  /** `user:<salted hash>`. */
  basicHttpAuth: string;
  rewriteHost: string;
  redirectURL: string;
  insecureUpstream: boolean;
  firewall: FirewallRule[];
  /**
   * Who may reach the site through the mesh (lib/client-config/mesh-access.ts grammar);
   * absent or empty: any tunnel. Absent in files written before it existed.
   */
  meshAllow?: string[];
}

export interface PortRule {
  /** A port allocated on the server. */
  port: number;
  /** Empty while the port is allocated but not forwarded. */
  destination: string;
  dstPort: number;
  firewall: FirewallRule[];
  /** Mesh only: no public listener on the server; other tunnels reach it through the mesh. */
  private?: boolean;
  /** Who may reach the port through the mesh; absent or empty: any tunnel. */
  meshAllow?: string[];
}

export interface PortMap {
  /** Local port on 127.0.0.1. */
  listenPort: number;
  dstPort: number;
  destination: string;
  transport: "tcp";
  label: string;
  http: boolean;
}

export interface ClientConfig {
  version: string;
  /** The auth token this client presents to the server. */
  key: string;
  tunnelID: string;
  hostname: string;
  /** `host:port` of the server's HTTPS endpoint. */
  serverHost: string;
  /**
   * More `host:port` addresses of the same server (the other nodes of a cluster), tried in
   * turn after `serverHost` when the current one cannot be reached or drops. Not in the
   * original client's file; kept only when set.
   */
  failoverHosts?: string[];
  /** Pinned server certificate, `sha256:<hex>` of the leaf's DER ("" when not pinned). */
  serverKey: string;
  /** Path of a CA / self-signed certificate PEM trusted for this server ("" for public trust). */
  ca: string;
  /** Server certificate verification disabled (`--insecure` at configure). */
  insecure: boolean;
  unmanaged: boolean;
  os: string;
  arch: string;
  https: HttpRule[];
  ports: PortRule[];
  portmaps: PortMap[];
  socks: { listenPort: number };
  monitor: { port: number };
  /**
   * The ACME CA the client orders `useLetsEnc` certificates from (absent: Let's Encrypt,
   * no contact address). Not in the original client's file; kept only when set.
   */
  acme?: { directoryUrl: string; email: string };
}

export const LETS_ENCRYPT_DIRECTORY_URL = "https://acme-v02.api.letsencrypt.org/directory";

export const CLIENT_CONFIG_VERSION = "1.0.0";

export function defaultClientConfig(): ClientConfig {
  return {
    version: CLIENT_CONFIG_VERSION,
    key: "",
    tunnelID: "",
    hostname: "",
    serverHost: "",
    serverKey: "",
    ca: "",
    insecure: false,
    unmanaged: true,
    os: process.platform,
    arch: process.arch,
    https: [],
    ports: [],
    portmaps: [],
    socks: { listenPort: 0 },
    monitor: { port: 0 },
  };
}

export function emptyHttpRule(domain: string): HttpRule {
  return {
    domain,
    secure: false,
    destination: "127.0.0.1",
    port: 0,
    tls: 0,
    httpsUpstream: 0,
    webRoot: "",
    useLetsEnc: false,
    ca: "",
    privateKey: "",
    redirect: false,
    password: "",
    basicHttpAuth: "",
    rewriteHost: "",
    redirectURL: "",
    insecureUpstream: false,
    firewall: [],
  };
}
