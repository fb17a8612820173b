import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostname } from "node:os";
import { clusterSettingsOf, DEFAULT_CONFIG_PATH, loadServerConfig, resolveConfigPath, validateServerConfig } from "../../../lib/config/server-config.ts";
import { tempDir } from "../../helpers.ts";

function writeConfig(raw: unknown): string {
  const path = join(tempDir(), "config.json");
  writeFileSync(path, typeof raw === "string" ? raw : JSON.stringify(raw));
  return path;
}

const noEnv = { env: {} };

describe("loading", () => {
  test("the legacy form {domain} means Let's Encrypt, with defaults for everything else", () => {
    const path = writeConfig({ domain: "Spokes.Example.com" });
    const { config, tlsMode, created } = loadServerConfig(path, noEnv);
    expect(tlsMode).toBe("letsencrypt");
    expect(created).toBe(false);
    expect(config.domain).toBe("spokes.example.com");
    expect(config.portRange).toEqual({ begin: 22000, end: 22999 });
    expect(config.database.path).toBe("/var/lib/spokes/spokes.db");
    expect(config.listen).toEqual({ address: "0.0.0.0", http: 80, https: 443, tunnel: 0, metrics: "", metricsToken: "" });
  });

  test("the original file's unknown keys (template, static) are ignored", () => {
    const path = writeConfig({ domain: "x.example.com", template: "/opt/t", static: "/opt/s", tls: { selfSigned: true } });
    expect(loadServerConfig(path, noEnv).tlsMode).toBe("selfSigned");
  });

  test("TLS mode: custom certificate, Let's Encrypt, self-signed", () => {
    const dir = tempDir();
    const custom = join(dir, "c.json");
    writeFileSync(custom, JSON.stringify({ domain: "x.example.com", tls: { certificate: "cert.pem", privateKey: "key.pem" } }));
    const loaded = loadServerConfig(custom, noEnv);
    expect(loaded.tlsMode).toBe("custom");
    // Relative paths are relative to the config file.
    expect(loaded.config.tls.certificate).toBe(join(dir, "cert.pem"));
    expect(loadServerConfig(writeConfig({ domain: "x.example.com", tls: { useLE: true } }), noEnv).tlsMode).toBe("letsencrypt");
    expect(loadServerConfig(writeConfig({ domain: "x.example.com", tls: {} }), noEnv).tlsMode).toBe("selfSigned");
  });

  test("DOMAIN fills a missing domain; a first run from DOMAIN is self-signed unless the file asks for LE", () => {
    const env = { env: { DOMAIN: "env.example.com" } };
    const legacy = loadServerConfig(writeConfig({ portRange: { begin: 1000, end: 2000 } }), env);
    expect([legacy.config.domain, legacy.tlsMode]).toEqual(["env.example.com", "selfSigned"]);
    expect(loadServerConfig(writeConfig({ domain: "file.example.com" }), env).config.domain).toBe("file.example.com");
    expect(loadServerConfig(writeConfig({ tls: { useLE: true } }), env).tlsMode).toBe("letsencrypt");
  });

  test("no file + DOMAIN: defaults, written only when the caller may create it (serve)", () => {
    const path = join(tempDir(), "sub", "config.json");
    const env = { DOMAIN: "first.example.com" };
    const readOnly = loadServerConfig(path, { env });
    expect([readOnly.config.domain, readOnly.tlsMode, readOnly.created, existsSync(path)]).toEqual(["first.example.com", "selfSigned", false, false]);
    const created = loadServerConfig(path, { env, allowCreate: true });
    expect(created.created).toBe(true);
    const written = JSON.parse(readFileSync(path, "utf8"));
    expect(written).toMatchObject({ domain: "first.example.com", tls: { selfSigned: true } });
    expect(loadServerConfig(path, noEnv).tlsMode).toBe("selfSigned");
  });

  test("missing file without DOMAIN, bad JSON and a non-object are one-line errors naming the file", () => {
    const missing = join(tempDir(), "nope.json");
    expect(() => loadServerConfig(missing, noEnv)).toThrow(`config file ${missing} not found (use --config PATH or SPOKES_CONFIG, or set DOMAIN for a first run)`);
    const bad = writeConfig("{ not json");
    expect(() => loadServerConfig(bad, noEnv)).toThrow(new RegExp(`^cannot read config file ${bad}: invalid JSON`));
    const arr = writeConfig([1, 2]);
    expect(() => loadServerConfig(arr, noEnv)).toThrow(`config file ${arr} must hold a JSON object`);
  });

  test("resolveConfigPath: --config, else SPOKES_CONFIG, else the default", () => {
    expect(resolveConfigPath("/a.json", { SPOKES_CONFIG: "/b.json" })).toBe("/a.json");
    expect(resolveConfigPath(undefined, { SPOKES_CONFIG: "/b.json" })).toBe("/b.json");
    expect(resolveConfigPath(undefined, {})).toBe(DEFAULT_CONFIG_PATH);
  });
});

describe("validation: every error names its field", () => {
  const base = { domain: "x.example.com" };
  const cases: [string, Record<string, unknown>, string][] = [
    ["domain missing", { domain: "" }, "config domain is required"],
    ["domain type", { domain: 5 }, "config domain must be a string (got 5)"],
    ["domain syntax", { domain: "bad domain" }, 'config domain ("bad domain") is not a valid hostname'],
    ["portRange order", { portRange: { begin: 22000, end: 21000 } }, "config portRange.end (21000) is below portRange.begin (22000)"],
    ["portRange bounds", { portRange: { begin: 0 } }, "config portRange.begin (0) must be between 1 and 65535"],
    ["portRange type", { portRange: { end: "x" } }, 'config portRange.end must be an integer (got "x")'],
    ["section type", { portRange: 5 }, "config portRange must be an object"],
    ["pool size", { tunOptions: { maxPoolSize: 0 } }, "config tunOptions.maxPoolSize (0) must be between 1 and 64"],
    ["boolean", { tunOptions: { autoHostnames: "yes" } }, 'config tunOptions.autoHostnames must be true or false (got "yes")'],
    ["key without cert", { tls: { privateKey: "/k.pem" } }, "config tls.certificate is required when the other of tls.certificate / tls.privateKey is set"],
    ["cert without key", { tls: { certificate: "/c.pem" } }, "config tls.privateKey is required"],
    ["LE and cert", { tls: { useLE: true, certificate: "/c", privateKey: "/k" } }, "config tls.useLE cannot be true together with tls.certificate"],
    ["listen address", { listen: { address: "localhost" } }, 'config listen.address ("localhost") must be an IP address'],
    ["listen port", { listen: { https: 70000 } }, "config listen.https (70000) must be between 0 and 65535"],
    ["same ports", { listen: { http: 8080, https: 8080 } }, "config listen.https (8080) must differ from listen.http"],
    ["socks port clash", { socks: { port: 443 } }, "config socks.port (443) must differ from listen.https"],
    ["listener in portRange", { socks: { tlsPort: 22010 } }, "config socks.tlsPort (22010) must be outside portRange (22000-22999)"],
    ["socks auth", { socks: { auth: "ldap" } }, 'config socks.auth ("ldap") must be "token" or "none"'],
    ["socks allow type", { socks: { allow: "10.0.0.0/8" } }, "config socks.allow must be an array of strings"],
    ["socks allow entry", { socks: { allow: ["10.0.0.0/8", ""] } }, 'config socks.allow[1] must be a non-empty string (got "")'],
    ["socks allow CIDR", { socks: { allow: ["10.0.0.0/33"] } }, 'config socks.allow[0]: invalid allow-list entry "10.0.0.0/33": prefix length must be 0-32'],
    ["socks allow wildcard", { socks: { allow: ["*.ok.example", "a.*.example"] } }, 'config socks.allow[1]: invalid allow-list entry "a.*.example"'],
    ["monitor interval", { monitor: { intervalSeconds: 1 } }, "config monitor.intervalSeconds (1) must be between 5 and 86400"],
    ["acme url", { acme: { directoryUrl: "not a url" } }, 'config acme.directoryUrl ("not a url") is not a URL'],
    ["acme dnsHook", { acme: { dnsHook: "hooks/missing.sh" } }, "config acme.dnsHook (/etc/spokes/hooks/missing.sh) is not an executable file"],
    ["database url", { database: { url: "mysql://x" } }, 'config database.url ("mysql://x") must be a libsql://, http(s)://, ws(s)://, file: or postgres:// URL'],
  ];
  test.each(cases)("%s", (_, raw, message) => {
    expect(() => validateServerConfig({ ...base, ...raw }, "/etc/spokes")).toThrow(message);
  });

  test("a full file as in SPEC 2.1 is accepted as written", () => {
    const raw = {
      domain: "spokes.example.com",
      dataPath: "/var/lib/spokes",
      database: { path: "/var/lib/spokes/spokes.db", url: "", authToken: "" },
      portRange: { begin: 22000, end: 22999 },
      tunOptions: { maxPoolSize: 5, maxPorts: 5, autoHostnames: false },
      tls: { useLE: false, certificate: "", privateKey: "", selfSigned: false },
      listen: { address: "0.0.0.0", http: 80, https: 443 },
      socks: { enabled: false, port: 0, tlsPort: 0, allow: [], auth: "token" },
      monitor: { enabled: false, intervalSeconds: 60 },
      acme: { directoryUrl: "https://acme-v02.api.letsencrypt.org/directory", email: "" },
    };
    // listen.tunnel, listen.metrics and acme.dnsHook are this server's extensions, off unless set.
    expect(validateServerConfig(raw, "/etc/spokes")).toEqual({ ...raw, listen: { ...raw.listen, tunnel: 0, metrics: "", metricsToken: "" }, acme: { ...raw.acme, dnsHook: "" }, cluster: { nodeId: "", advertise: "", secret: "" } } as never);
  });
});

test("listen.metrics takes ADDRESS:PORT or a port on listen.address, and is checked like the other listeners", () => {
  const base = { domain: "a.test", listen: { address: "127.0.0.1", http: 8080, https: 8443 } };
  const v = (metrics: unknown) => validateServerConfig({ ...base, listen: { ...base.listen, metrics } }, "/").listen.metrics;
  expect(v(9100)).toBe("127.0.0.1:9100");
  expect(v("[::1]:9100")).toBe("[::1]:9100");
  expect(v(0)).toBe("");
  expect(() => v("localhost:9100")).toThrow('config listen.metrics ("localhost:9100") must be ADDRESS:PORT with an IP address, or a port number');
  expect(() => v(8080)).toThrow("config listen.metrics (8080) must differ from listen.http");
});

describe("cluster", () => {
  const pg = { domain: "a.test", database: { url: "postgres://spokes@db.internal/spokes" } };
  const secret = "0123456789abcdef";
  const v = (cluster: unknown, base: Record<string, unknown> = pg) => validateServerConfig({ ...base, cluster }, "/");

  test("off without a secret: no settings, whatever else the section holds", () => {
    expect(clusterSettingsOf(validateServerConfig({ domain: "a.test" }, "/"))).toBeUndefined();
    expect(clusterSettingsOf(v({ nodeId: "n1", advertise: "x:1" }, { domain: "a.test" }))).toBeUndefined();
  });

  test("on with a secret: the parsed settings, nodeId defaulting to the hostname", () => {
    expect(clusterSettingsOf(v({ nodeId: "node-a", advertise: "node-a.internal:8443", secret }))).toEqual({ nodeId: "node-a", advertise: "node-a.internal:8443", secret });
    expect(clusterSettingsOf(v({ advertise: "10.0.0.5:443", secret }))).toEqual({ nodeId: hostname(), advertise: "10.0.0.5:443", secret });
    expect(clusterSettingsOf(v({ nodeId: "b", advertise: "[fd00::5]:443", secret }))!.advertise).toBe("[fd00::5]:443");
  });

  const cases: [string, unknown, Record<string, unknown>, string][] = [
    ["short secret", { advertise: "a:1", secret: "short" }, pg, "config cluster.secret must be at least 16 characters long (got 5)"],
    ["secret type", { secret: 12 }, pg, "config cluster.secret must be a string (got 12)"],
    ["SQLite", { advertise: "a:1", secret }, { domain: "a.test" }, "config cluster.secret is set (cluster mode) but the database is SQLite: a cluster needs a shared PostgreSQL database (database.url postgres://...)"],
    ["libSQL server", { advertise: "a:1", secret }, { domain: "a.test", database: { url: "libsql://x.example" } }, "but the database is SQLite"],
    ["no advertise", { secret }, pg, "config cluster.advertise is required in cluster mode"],
    ["advertise without port", { advertise: "node-a.internal", secret }, pg, 'config cluster.advertise ("node-a.internal") must be HOST:PORT'],
    ["advertise port 0", { advertise: "node-a:0", secret }, pg, 'config cluster.advertise ("node-a:0") must be HOST:PORT'],
    ["advertise bad host", { advertise: "no_de:443", secret }, pg, 'config cluster.advertise ("no_de:443") must be HOST:PORT'],
    ["advertise bare IPv6", { advertise: "fd00::5:443", secret }, pg, 'config cluster.advertise ("fd00::5:443") must be HOST:PORT'],
    ["node id", { nodeId: "a b", advertise: "a:1", secret }, pg, 'config cluster.nodeId ("a b") must be 1-63 letters, digits'],
    ["section type", "on", pg, "config cluster must be an object"],
  ];
  test.each(cases)("%s", (_, cluster, base, message) => {
    expect(() => v(cluster, base)).toThrow(message);
  });

  test("an error is one line", () => {
    try {
      v({ advertise: "a:1", secret }, { domain: "a.test" });
      throw new Error("not refused");
    } catch (err) {
      expect(String((err as Error).message)).not.toContain("\n");
    }
  });
});
