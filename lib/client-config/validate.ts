// Turns the parsed JSON of a client configuration file into a ClientConfig, filling
// defaults and rejecting bad values with a message that names the field
// (`config https[0].port (70000) must be between 1 and 65535`).
import { UserError } from "../errors.ts";
import { isPasswordHash, isStoredBasicAuth } from "../http/basic-auth.ts";
import { normalizeFingerprint } from "../client-api/fingerprint.ts";
import { parseServerHost } from "../client-api/server-host.ts";
import { parseMeshAllow } from "./mesh-access.ts";
import { isDestination, isHostWithPort, isHttpUrl, isRuleDomain, normalizeNetwork } from "./names.ts";
import { CLIENT_CONFIG_VERSION, type ClientConfig, type FirewallRule, type HttpRule, type PortMap, type PortRule } from "./types.ts";

type Obj = Record<string, unknown>;

function fail(field: string, message: string): never {
  throw new UserError(`config ${field} ${message}`);
}

const show = (v: unknown) => JSON.stringify(v);

/** Reads typed fields of one JSON object, naming them `<prefix>.<key>` in errors. */
class Fields {
  constructor(
    private readonly obj: Obj,
    private readonly prefix: string,
  ) {}

  name(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  str(key: string, def = ""): string {
    const v = this.obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "string") fail(this.name(key), `must be a string (got ${show(v)})`);
    return v.trim();
  }

  bool(key: string, def = false): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "boolean") fail(this.name(key), `must be true or false (got ${show(v)})`);
    return v;
  }

  int(key: string, def: number, min: number, max: number, range = `between ${min} and ${max}`): number {
    const v = this.obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "number" || !Number.isInteger(v)) fail(this.name(key), `must be an integer (got ${show(v)})`);
    if (v < min || v > max) fail(this.name(key), `(${v}) must be ${range}`);
    return v;
  }

  /** A TCP port; 0 means "none" where the field is optional. */
  port(key: string, opts: { required?: boolean } = {}): number {
    const v = this.int(key, 0, 0, 65535, "between 1 and 65535");
    if (v === 0 && opts.required) fail(this.name(key), this.obj[key] === undefined ? "is required" : "(0) must be between 1 and 65535");
    return v;
  }

  object(key: string): Fields {
    const v = this.obj[key];
    if (v === undefined || v === null) return new Fields({}, this.name(key));
    if (typeof v !== "object" || Array.isArray(v)) fail(this.name(key), "must be an object");
    return new Fields(v as Obj, this.name(key));
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  strings(key: string): string[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) fail(this.name(key), "must be an array");
    return v.map((el, i) => {
      if (typeof el !== "string") fail(`${this.name(key)}[${i}]`, `must be a string (got ${show(el)})`);
      return el;
    });
  }

  list<T>(key: string, item: (f: Fields) => T): T[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) fail(this.name(key), "must be an array");
    return v.map((el, i) => {
      const field = `${this.name(key)}[${i}]`;
      if (!el || typeof el !== "object" || Array.isArray(el)) fail(field, "must be an object");
      return item(new Fields(el as Obj, field));
    });
  }
}

function firewallRule(f: Fields): FirewallRule {
  const action = f.str("action");
  if (action !== "allow" && action !== "drop") fail(f.name("action"), `(${show(action)}) must be "allow" or "drop"`);
  const raw = f.str("network");
  const network = normalizeNetwork(raw);
  if (!network) fail(f.name("network"), `(${show(raw)}) must be an IP address or a CIDR network`);
  return { sequence: f.int("sequence", 0, 1, 1_000_000), action, network };
}

function firewall(f: Fields): FirewallRule[] {
  return f.list("firewall", firewallRule).sort((a, b) => a.sequence - b.sequence);
}

/**
 * `meshAllow` and `private` only when the file has them: a remote `tcp/update` or
 * `http/update` that leaves them out keeps the client's current access settings.
 */
function meshAccess(f: Fields, withPrivate: boolean): { private?: boolean; meshAllow?: string[] } {
  const out: { private?: boolean; meshAllow?: string[] } = {};
  if (withPrivate && f.has("private")) out.private = f.bool("private");
  if (f.has("meshAllow")) out.meshAllow = parseMeshAllow(f.strings("meshAllow"), (i, v) => `config ${f.name("meshAllow")}[${i}] (${show(v)})`);
  return out;
}

function destination(f: Fields, required: boolean): string {
  const v = f.str("destination");
  if (!v && required) fail(f.name("destination"), "is required");
  if (v && !isDestination(v)) fail(f.name("destination"), `(${show(v)}) must be a hostname or an IP address`);
  return v;
}

function passwordHash(f: Fields, key: string): string {
  const v = f.str(key);
  if (v && !isPasswordHash(v)) fail(f.name(key), "must be a salted password hash, not a plain password (set it with pktriot tunnel http add --password)");
  return v;
}

function httpRule(f: Fields): HttpRule {
  const domain = f.str("domain").toLowerCase();
  if (!domain) fail(f.name("domain"), "is required");
  if (!isRuleDomain(domain)) fail(f.name("domain"), `(${show(domain)}) is not a valid domain name`);
  const basicHttpAuth = f.str("basicHttpAuth");
  if (basicHttpAuth && !isStoredBasicAuth(basicHttpAuth)) {
    fail(f.name("basicHttpAuth"), 'must be "user:<salted hash>", not a plain password (set it with pktriot tunnel http add --basic-user/--basic-password)');
  }
  const rewriteHost = f.str("rewriteHost");
  if (rewriteHost && !isHostWithPort(rewriteHost)) fail(f.name("rewriteHost"), `(${show(rewriteHost)}) must be a host name, optionally with :port`);
  const redirectURL = f.str("redirectURL");
  if (redirectURL && !isHttpUrl(redirectURL)) fail(f.name("redirectURL"), `(${show(redirectURL)}) must be an http:// or https:// URL`);
  const ca = f.str("ca");
  const privateKey = f.str("privateKey");
  if (Boolean(ca) !== Boolean(privateKey)) fail(f.name(ca ? "privateKey" : "ca"), "is required when the other of ca / privateKey is set");
  return {
    domain,
    secure: f.bool("secure"),
    destination: destination(f, false) || "127.0.0.1",
    port: f.port("port"),
    tls: f.port("tls"),
    httpsUpstream: f.port("httpsUpstream"),
    webRoot: f.str("webRoot"),
    useLetsEnc: f.bool("useLetsEnc"),
    ca,
    privateKey,
    redirect: f.bool("redirect"),
    password: passwordHash(f, "password"),
    basicHttpAuth,
    rewriteHost,
    redirectURL,
    insecureUpstream: f.bool("insecureUpstream"),
    firewall: firewall(f),
    ...meshAccess(f, false),
  };
}

function portRule(f: Fields): PortRule {
  const dest = destination(f, false);
  const dstPort = f.port("dstPort");
  if (dest && !dstPort) fail(f.name("dstPort"), "is required when destination is set");
  if (dstPort && !dest) fail(f.name("destination"), "is required when dstPort is set");
  return { port: f.port("port", { required: true }), destination: dest, dstPort, firewall: firewall(f), ...meshAccess(f, true) };
}

function portMap(f: Fields): PortMap {
  const transport = f.str("transport", "tcp").toLowerCase() || "tcp";
  if (transport !== "tcp") fail(f.name("transport"), `(${show(transport)}) must be "tcp"`);
  return {
    listenPort: f.port("listenPort", { required: true }),
    dstPort: f.port("dstPort", { required: true }),
    destination: destination(f, true),
    transport,
    label: f.str("label"),
    http: f.bool("http"),
  };
}

/** The first index of a repeated key, so the message can point at both entries. */
function checkUnique<T>(items: T[], key: (t: T) => string | number, field: (i: number) => string, what: string): void {
  const seen = new Map<string | number, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const first = seen.get(k);
    if (first !== undefined) fail(field(i), `(${show(k)}) duplicates ${what}[${first}]`);
    seen.set(k, i);
  });
}

/** Local listeners (port maps, SOCKS, monitor) all bind 127.0.0.1 and must not collide. */
function checkLocalListeners(c: ClientConfig): void {
  const used = new Map<number, string>();
  const claim = (port: number, field: string) => {
    if (!port) return;
    const other = used.get(port);
    if (other) fail(field, `(${port}) is already used by ${other}`);
    used.set(port, field);
  };
  c.portmaps.forEach((m, i) => claim(m.listenPort, `portmaps[${i}].listenPort`));
  claim(c.socks.listenPort, "socks.listenPort");
  claim(c.monitor.port, "monitor.port");
}

/** `acme: {directoryUrl, email}`, only when the file has it (absent: Let's Encrypt). */
function acmeSettings(root: Fields): ClientConfig["acme"] {
  const a = root.object("acme");
  const directoryUrl = a.str("directoryUrl");
  const email = a.str("email");
  if (!directoryUrl && !email) return undefined;
  if (directoryUrl && !/^https?:\/\/[^\s/]+/.test(directoryUrl)) fail(a.name("directoryUrl"), `(${show(directoryUrl)}) must be an http(s) URL`);
  if (email && !/^[^\s@]+@[^\s@]+$/.test(email)) fail(a.name("email"), `(${show(email)}) must be an email address`);
  return { directoryUrl, email };
}

export function validateClientConfig(raw: unknown): ClientConfig {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new UserError("config file must hold a JSON object");
  const f = new Fields(raw as Obj, "");

  const serverHost = f.str("serverHost");
  if (serverHost) {
    try {
      parseServerHost(serverHost);
    } catch (err) {
      fail("serverHost", `(${show(serverHost)}) ${(err as Error).message}`);
    }
  }
  const failoverHosts = f.strings("failoverHosts").map((host, i) => {
    try {
      return parseServerHost(host).hostPort;
    } catch (err) {
      fail(`failoverHosts[${i}]`, `(${show(host)}) ${(err as Error).message}`);
    }
  });
  if (failoverHosts.length && !serverHost) fail("failoverHosts", "needs serverHost (the first address)");
  const serverKeyRaw = f.str("serverKey");
  let serverKey = "";
  if (serverKeyRaw) {
    const hex = normalizeFingerprint(serverKeyRaw);
    if (!hex) fail("serverKey", `(${show(serverKeyRaw)}) must be a SHA-256 fingerprint (sha256:<64 hex digits>)`);
    serverKey = `sha256:${hex}`;
  }

  const config: ClientConfig = {
    version: f.str("version", CLIENT_CONFIG_VERSION) || CLIENT_CONFIG_VERSION,
    key: f.str("key"),
    tunnelID: f.str("tunnelID"),
    hostname: f.str("hostname").toLowerCase(),
    serverHost,
    ...(failoverHosts.length ? { failoverHosts } : {}),
    serverKey,
    ca: f.str("ca"),
    insecure: f.bool("insecure"),
    unmanaged: f.bool("unmanaged", true),
    os: f.str("os", process.platform),
    arch: f.str("arch", process.arch),
    https: f.list("https", httpRule),
    ports: f.list("ports", portRule),
    portmaps: f.list("portmaps", portMap),
    socks: { listenPort: f.object("socks").port("listenPort") },
    monitor: { port: f.object("monitor").port("port") },
  };
  const acme = acmeSettings(f);
  if (acme) config.acme = acme;
  checkUnique(config.https, (r) => r.domain, (i) => `https[${i}].domain`, "https");
  checkUnique(config.ports, (r) => r.port, (i) => `ports[${i}].port`, "ports");
  checkLocalListeners(config);
  return config;
}
