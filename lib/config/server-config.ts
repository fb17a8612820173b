// The server configuration file (SPEC 2.1): defaults, compatibility with the original
// Spokes file, and validation whose messages name the offending field.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import type { ClusterSettings } from "../cluster/types.ts";
import { UserError, errorMessage } from "../errors.ts";
import { isHostname } from "../net/hostname.ts";
import { parseAllowEntry } from "../socks/allow-list.ts";

export type TlsMode = "letsencrypt" | "custom" | "selfSigned";

export interface ServerConfig {
  domain: string;
  dataPath: string;
  database: { path: string; url: string; authToken: string };
  portRange: { begin: number; end: number };
  tunOptions: { maxPoolSize: number; maxPorts: number; autoHostnames: boolean };
  tls: { useLE: boolean; certificate: string; privateKey: string; selfSigned: boolean };
  /**
   * `tunnel` (an extension of the original file, 0 = off): a second TLS port serving the
   * server's own domain (client API, tunnel WebSockets, dashboard) straight from the web
   * server, without the SNI front door of `https` and its loopback hop. Clients pointed at
   * it (`--hostname DOMAIN:PORT`) carry bulk traffic with ~40 % less server CPU.
   */
  listen: {
    address: string;
    http: number;
    https: number;
    tunnel: number;
    /**
     * `metrics` (extension, "" = off): "ADDRESS:PORT" of a plain-HTTP listener serving
     * Prometheus `/metrics` and `/healthz`; a bare port number means listen.address:PORT.
     * `metricsToken`, when set, is the bearer token `/metrics` requires.
     */
    metrics: string;
    metricsToken: string;
  };
  socks: { enabled: boolean; port: number; tlsPort: number; allow: string[]; auth: "token" | "none" };
  monitor: { enabled: boolean; intervalSeconds: number };
  /**
   * `dnsHook` (extension, "" = off): an executable run as `dnsHook present|cleanup <fqdn>
   * <value>` to publish the DNS-01 TXT record; with it, Let's Encrypt orders one
   * certificate for the domain and `*.domain` instead of a certificate per tunnel name.
   */
  acme: { directoryUrl: string; email: string; dnsHook: string };
  /**
   * `cluster` (extension): several nodes sharing one PostgreSQL database. Cluster mode is on
   * when `secret` is set; `nodeId` defaults to the machine's hostname then. See
   * clusterSettingsOf for the parsed form.
   */
  cluster: { nodeId: string; advertise: string; secret: string };
}

export interface LoadedConfig {
  config: ServerConfig;
  /** Absolute path of the file it came from (or will be written to). */
  path: string;
  tlsMode: TlsMode;
  /** True when the file did not exist and was written from DOMAIN (first run). */
  created: boolean;
}

export const DEFAULT_CONFIG_PATH = "/etc/spokes/config.json";

export function defaultServerConfig(domain = ""): ServerConfig {
  return {
    domain,
    dataPath: "/var/lib/spokes",
    database: { path: "", url: "", authToken: "" },
    portRange: { begin: 22000, end: 22999 },
    tunOptions: { maxPoolSize: 5, maxPorts: 5, autoHostnames: false },
    tls: { useLE: false, certificate: "", privateKey: "", selfSigned: false },
    listen: { address: "0.0.0.0", http: 80, https: 443, tunnel: 0, metrics: "", metricsToken: "" },
    socks: { enabled: false, port: 0, tlsPort: 0, allow: [], auth: "token" },
    monitor: { enabled: false, intervalSeconds: 60 },
    acme: { directoryUrl: "https://acme-v02.api.letsencrypt.org/directory", email: "", dnsHook: "" },
    cluster: { nodeId: "", advertise: "", secret: "" },
  };
}

/** The node's cluster settings, or undefined when cluster mode is off (no `cluster.secret`). */
export function clusterSettingsOf(config: ServerConfig): ClusterSettings | undefined {
  const { nodeId, advertise, secret } = config.cluster;
  return secret ? { nodeId, advertise, secret } : undefined;
}

/** Shortest shared secret a cluster accepts (it is the only credential of a peer link). */
export const CLUSTER_SECRET_MIN_LENGTH = 16;

/** `--config`, else `SPOKES_CONFIG`, else /etc/spokes/config.json. */
export function resolveConfigPath(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  return resolve(flag || env.SPOKES_CONFIG || DEFAULT_CONFIG_PATH);
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  /** Only `serve` may create the file from DOMAIN on first run. */
  allowCreate?: boolean;
}

export function loadServerConfig(path: string, opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const envDomain = env.DOMAIN?.trim() || "";
  if (!existsSync(path)) {
    if (!envDomain) throw new UserError(`config file ${path} not found (use --config PATH or SPOKES_CONFIG, or set DOMAIN for a first run)`);
    const config = defaultServerConfig(envDomain);
    config.tls.selfSigned = true;
    const validated = validateServerConfig(config as unknown as Record<string, unknown>, dirname(path));
    if (opts.allowCreate) writeConfigFile(path, config);
    return { config: validated, path, tlsMode: "selfSigned", created: Boolean(opts.allowCreate) };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const why = err instanceof SyntaxError ? `invalid JSON (${errorMessage(err)})` : errorMessage(err);
    throw new UserError(`cannot read config file ${path}: ${why}`);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`config file ${path} must hold a JSON object`);
  const obj = raw as Record<string, unknown>;
  if (!obj.domain && envDomain) obj.domain = envDomain;
  const config = validateServerConfig(obj, dirname(path));
  return { config, path, tlsMode: tlsModeOf(obj, config, Boolean(envDomain)), created: false };
}

function tlsModeOf(raw: Record<string, unknown>, config: ServerConfig, firstRunFromEnv: boolean): TlsMode {
  if (config.tls.certificate || config.tls.privateKey) return "custom";
  if (config.tls.useLE) return "letsencrypt";
  if (config.tls.selfSigned) return "selfSigned";
  // The original file without a `tls` object means Let's Encrypt, unless this is a
  // container-style first run from DOMAIN (SPEC 2.1).
  if (!("tls" in raw)) return firstRunFromEnv ? "selfSigned" : "letsencrypt";
  return "selfSigned";
}

export function writeConfigFile(path: string, config: ServerConfig): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  } catch (err) {
    throw new UserError(`cannot write config file ${path}: ${errorMessage(err)}`);
  }
}

// ---- validation -----------------------------------------------------------------

/** "1.2.3.4:9100" or "[::1]:9100" -> address and port (undefined when malformed). */
export function parseHostPort(value: string): { address: string; port: number } | undefined {
  const m = value.match(/^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/);
  const address = m?.[1] ?? m?.[2];
  const p = Number(m?.[3]);
  if (!address || !isIP(address) || !Number.isInteger(p) || p < 1 || p > 65535) return undefined;
  return { address, port: p };
}

function fail(field: string, message: string): never {
  throw new UserError(`config ${field} ${message}`);
}

function section(raw: Record<string, unknown>, key: string): Record<string, unknown> {
  const v = raw[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(key, "must be an object");
  return v as Record<string, unknown>;
}

function str(obj: Record<string, unknown>, field: string, key: string, def: string): string {
  const v = obj[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "string") fail(field, `must be a string (got ${JSON.stringify(v)})`);
  return v;
}

function bool(obj: Record<string, unknown>, field: string, key: string, def: boolean): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "boolean") fail(field, `must be true or false (got ${JSON.stringify(v)})`);
  return v;
}

function int(obj: Record<string, unknown>, field: string, key: string, def: number, min: number, max: number): number {
  const v = obj[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v)) fail(field, `must be an integer (got ${JSON.stringify(v)})`);
  if (v < min || v > max) fail(field, `(${v}) must be between ${min} and ${max}`);
  return v;
}

function port(obj: Record<string, unknown>, field: string, key: string, def: number): number {
  return int(obj, field, key, def, 0, 65535);
}

export function validateServerConfig(raw: Record<string, unknown>, baseDir: string): ServerConfig {
  const d = defaultServerConfig();
  const abs = (p: string) => (p && !isAbsolute(p) ? resolve(baseDir, p) : p);

  const domain = str(raw, "domain", "domain", "").trim().toLowerCase();
  if (!domain) fail("domain", "is required");
  if (!isHostname(domain)) fail("domain", `(${JSON.stringify(domain)}) is not a valid hostname`);

  const dataPath = abs(str(raw, "dataPath", "dataPath", d.dataPath)) || d.dataPath;

  const db = section(raw, "database");
  const database = {
    path: abs(str(db, "database.path", "path", "")) || resolve(dataPath, "spokes.db"),
    url: str(db, "database.url", "url", "").trim(),
    authToken: str(db, "database.authToken", "authToken", ""),
  };
  if (database.url && !/^(libsql|https?|wss?|file|postgres(ql)?):/.test(database.url)) {
    fail("database.url", `(${JSON.stringify(database.url)}) must be a libsql://, http(s)://, ws(s)://, file: or postgres:// URL`);
  }

  const pr = section(raw, "portRange");
  const portRange = {
    begin: int(pr, "portRange.begin", "begin", d.portRange.begin, 1, 65535),
    end: int(pr, "portRange.end", "end", d.portRange.end, 1, 65535),
  };
  if (portRange.end < portRange.begin) fail("portRange.end", `(${portRange.end}) is below portRange.begin (${portRange.begin})`);

  const tu = section(raw, "tunOptions");
  const tunOptions = {
    maxPoolSize: int(tu, "tunOptions.maxPoolSize", "maxPoolSize", d.tunOptions.maxPoolSize, 1, 64),
    maxPorts: int(tu, "tunOptions.maxPorts", "maxPorts", d.tunOptions.maxPorts, 0, 65535),
    autoHostnames: bool(tu, "tunOptions.autoHostnames", "autoHostnames", d.tunOptions.autoHostnames),
  };

  const t = section(raw, "tls");
  const tls = {
    useLE: bool(t, "tls.useLE", "useLE", false),
    certificate: abs(str(t, "tls.certificate", "certificate", "")),
    privateKey: abs(str(t, "tls.privateKey", "privateKey", "")),
    selfSigned: bool(t, "tls.selfSigned", "selfSigned", false),
  };
  if (Boolean(tls.certificate) !== Boolean(tls.privateKey)) {
    fail(tls.certificate ? "tls.privateKey" : "tls.certificate", "is required when the other of tls.certificate / tls.privateKey is set");
  }
  if (tls.certificate && tls.useLE) fail("tls.useLE", "cannot be true together with tls.certificate");

  const l = section(raw, "listen");
  const listen = {
    address: str(l, "listen.address", "address", d.listen.address),
    http: port(l, "listen.http", "http", d.listen.http),
    https: port(l, "listen.https", "https", d.listen.https),
    tunnel: port(l, "listen.tunnel", "tunnel", 0),
    metrics: "",
    metricsToken: str(l, "listen.metricsToken", "metricsToken", ""),
  };
  if (!isIP(listen.address)) fail("listen.address", `(${JSON.stringify(listen.address)}) must be an IP address`);
  const metricsRaw = l.metrics;
  if (metricsRaw === 0) listen.metrics = "";
  else if (typeof metricsRaw === "number") listen.metrics = `${listen.address.includes(":") ? `[${listen.address}]` : listen.address}:${port(l, "listen.metrics", "metrics", 0)}`;
  else listen.metrics = str(l, "listen.metrics", "metrics", "").trim();
  const metricsAt = listen.metrics ? parseHostPort(listen.metrics) : undefined;
  if (listen.metrics && !metricsAt) fail("listen.metrics", `(${JSON.stringify(listen.metrics)}) must be ADDRESS:PORT with an IP address, or a port number`);

  const s = section(raw, "socks");
  const allowRaw = s.allow ?? [];
  if (!Array.isArray(allowRaw)) fail("socks.allow", "must be an array of strings");
  const allow = allowRaw.map((v, i) => {
    if (typeof v !== "string" || !v.trim()) fail(`socks.allow[${i}]`, `must be a non-empty string (got ${JSON.stringify(v)})`);
    try {
      parseAllowEntry(v);
    } catch (err) {
      throw new UserError(`config socks.allow[${i}]: ${errorMessage(err)}`);
    }
    return v.trim();
  });
  const auth = str(s, "socks.auth", "auth", "token");
  if (auth !== "token" && auth !== "none") fail("socks.auth", `(${JSON.stringify(auth)}) must be "token" or "none"`);
  const socks = {
    enabled: bool(s, "socks.enabled", "enabled", false),
    port: port(s, "socks.port", "port", 0),
    tlsPort: port(s, "socks.tlsPort", "tlsPort", 0),
    allow,
    auth: auth as "token" | "none",
  };

  // Two listeners on one port, or a listener inside portRange (whose ports are handed to
  // tunnels), would fail at start or steal a tunnel's port. 0 means "not listening".
  const listeners: [string, number][] = [
    ["listen.http", listen.http],
    ["listen.https", listen.https],
    ["listen.tunnel", listen.tunnel],
    ["socks.port", socks.port],
    ["socks.tlsPort", socks.tlsPort],
    ["listen.metrics", listen.metrics ? parseHostPort(listen.metrics)!.port : 0],
  ];
  const seen = new Map<number, string>();
  for (const [field, p] of listeners) {
    if (!p) continue;
    const other = seen.get(p);
    if (other) fail(field, `(${p}) must differ from ${other}`);
    if (p >= portRange.begin && p <= portRange.end) fail(field, `(${p}) must be outside portRange (${portRange.begin}-${portRange.end})`);
    seen.set(p, field);
  }

  const m = section(raw, "monitor");
  const monitor = {
    enabled: bool(m, "monitor.enabled", "enabled", false),
    intervalSeconds: int(m, "monitor.intervalSeconds", "intervalSeconds", 60, 5, 86400),
  };

  const a = section(raw, "acme");
  const acme = {
    directoryUrl: str(a, "acme.directoryUrl", "directoryUrl", d.acme.directoryUrl),
    email: str(a, "acme.email", "email", ""),
    dnsHook: abs(str(a, "acme.dnsHook", "dnsHook", "")),
  };
  if (!URL.canParse(acme.directoryUrl)) fail("acme.directoryUrl", `(${JSON.stringify(acme.directoryUrl)}) is not a URL`);
  if (acme.dnsHook && !isExecutable(acme.dnsHook)) fail("acme.dnsHook", `(${acme.dnsHook}) is not an executable file`);

  const cluster = validateCluster(section(raw, "cluster"), database.url);

  return { domain, dataPath, database, portRange, tunOptions, tls, listen, socks, monitor, acme, cluster };
}

/**
 * "host:port" a peer can dial: a hostname or an IP address (IPv6 in brackets), and a
 * port; undefined when malformed.
 */
export function parseAdvertise(value: string): { host: string; port: number } | undefined {
  const m = value.match(/^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/);
  const host = m?.[1] ?? m?.[2];
  const p = Number(m?.[3]);
  if (!host || !(m?.[1] ? isIP(host) === 6 : isIP(host) === 4 || isHostname(host.toLowerCase())) || p < 1 || p > 65535) return undefined;
  return { host, port: p };
}

function validateCluster(c: Record<string, unknown>, databaseUrl: string): ServerConfig["cluster"] {
  const secret = str(c, "cluster.secret", "secret", "");
  let nodeId = str(c, "cluster.nodeId", "nodeId", "").trim();
  const advertise = str(c, "cluster.advertise", "advertise", "").trim();
  if (!secret) return { nodeId, advertise, secret };
  if (secret.length < CLUSTER_SECRET_MIN_LENGTH) fail("cluster.secret", `must be at least ${CLUSTER_SECRET_MIN_LENGTH} characters long (got ${secret.length})`);
  if (!/^postgres(ql)?:\/\//i.test(databaseUrl)) fail("cluster.secret", "is set (cluster mode) but the database is SQLite: a cluster needs a shared PostgreSQL database (database.url postgres://...)");
  nodeId ||= hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(nodeId)) fail("cluster.nodeId", `(${JSON.stringify(nodeId)}) must be 1-63 letters, digits, '.', '_' or '-'`);
  if (!advertise) fail("cluster.advertise", "is required in cluster mode (HOST:PORT where the other nodes reach this node's tunnel endpoint)");
  if (!parseAdvertise(advertise)) fail("cluster.advertise", `(${JSON.stringify(advertise)}) must be HOST:PORT (a hostname or IP address, and a port 1-65535)`);
  return { nodeId, advertise, secret };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
