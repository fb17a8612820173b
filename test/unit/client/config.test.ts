import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  chooseClientConfigPath,
  clientConfigCandidates,
  defaultClientConfig,
  findClientConfigPath,
  loadClientConfig,
  saveClientConfig,
  updateClientConfig,
  validateClientConfig,
  watchClientConfig,
  type ClientConfig,
} from "../../../lib/client-config/index.ts";
import { tempDir, waitFor } from "../../helpers.ts";

const HASH = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";

function rule(over: Record<string, unknown> = {}) {
  return { domain: "app.example.com", destination: "127.0.0.1", port: 8080, ...over };
}

describe("validateClientConfig", () => {
  test("fills every key of the original file from an empty object", () => {
    const c = validateClientConfig({});
    expect(c).toEqual({ ...defaultClientConfig() });
    expect(Object.keys(c)).toEqual(
      expect.arrayContaining(["version", "key", "hostname", "serverHost", "serverKey", "unmanaged", "os", "arch", "https", "ports", "portmaps", "socks", "monitor", "tunnelID", "ca", "insecure"]),
    );
  });

  test("accepts the SPEC 3.1 example (with hashed password)", () => {
    const c = validateClientConfig({
      version: "1.0.0",
      key: "k",
      hostname: "t.example.com",
      serverHost: "spokes.example.com:443",
      serverKey: "",
      unmanaged: true,
      os: "linux",
      arch: "x64",
      https: [{ ...emptyish(), domain: "app.example.com", secure: true, port: 8080, firewall: [{ sequence: 1, action: "allow", network: "10.0.0.0/8" }] }],
      ports: [{ port: 22001, destination: "127.0.0.1", dstPort: 22, firewall: [] }],
      portmaps: [{ listenPort: 6379, dstPort: 22123, destination: "redis", transport: "tcp", label: "", http: false }],
      socks: { listenPort: 1080 },
      monitor: { port: 0 },
    });
    expect(c.https[0]!.firewall[0]).toEqual({ sequence: 1, action: "allow", network: "10.0.0.0/8" });
    expect(c.portmaps[0]!.destination).toBe("redis");
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ["port out of range", { https: [rule({ port: 70000 })] }, "config https[0].port (70000) must be between 1 and 65535"],
    ["port not an integer", { https: [rule({ port: "80" })] }, 'config https[0].port must be an integer (got "80")'],
    ["plain password", { https: [rule({ password: "hunter2" })] }, "config https[0].password must be a salted password hash"],
    ["plain basic auth", { https: [rule({ basicHttpAuth: "bob:hunter2" })] }, "config https[0].basicHttpAuth must be"],
    ["bad domain", { https: [rule({ domain: "not a domain" })] }, 'config https[0].domain ("not a domain") is not a valid domain name'],
    ["duplicate domain", { https: [rule(), rule({ domain: "APP.example.com" })] }, 'config https[1].domain ("app.example.com") duplicates https[0]'],
    ["ca without key", { https: [rule({ ca: "/x.pem" })] }, "config https[0].privateKey is required"],
    ["bad firewall action", { https: [rule({ firewall: [{ sequence: 1, action: "deny", network: "1.2.3.4" }] })] }, 'config https[0].firewall[0].action ("deny") must be "allow" or "drop"'],
    ["bad network", { https: [rule({ firewall: [{ sequence: 1, action: "drop", network: "10.1/16" }] })] }, "config https[0].firewall[0].network"],
    ["port rule without port", { ports: [{ destination: "h", dstPort: 22 }] }, "config ports[0].port is required"],
    ["forward without dstPort", { ports: [{ port: 22001, destination: "h" }] }, "config ports[0].dstPort is required when destination is set"],
    ["duplicate port", { ports: [{ port: 22001 }, { port: 22001 }] }, "config ports[1].port (22001) duplicates ports[0]"],
    ["udp map", { portmaps: [{ listenPort: 1, dstPort: 2, destination: "h", transport: "udp" }] }, 'config portmaps[0].transport ("udp") must be "tcp"'],
    ["listener clash", { portmaps: [{ listenPort: 1080, dstPort: 2, destination: "h" }], socks: { listenPort: 1080 } }, "config socks.listenPort (1080) is already used by portmaps[0].listenPort"],
    ["https not an array", { https: {} }, "config https must be an array"],
    ["socks not an object", { socks: 3 }, "config socks must be an object"],
    ["bad serverHost", { serverHost: "a b:1" }, "config serverHost"],
    ["bad serverKey", { serverKey: "sha256:abc" }, "config serverKey"],
    ["insecure not a bool", { insecure: "yes" }, 'config insecure must be true or false (got "yes")'],
  ];
  for (const [name, raw, message] of bad) {
    test(`rejects ${name}`, () => {
      expect(() => validateClientConfig(raw)).toThrow(message);
    });
  }

  test("normalizes networks, pins and sorts firewall rules by sequence", () => {
    const c = validateClientConfig({
      serverKey: "AE:71:07:4A:19:58:3F:83:B8:D3:FB:E2:FA:9B:27:3F:86:1E:17:7F:30:6E:12:7C:8C:98:8B:87:06:1A:B3:B5",
      https: [rule({ firewall: [{ sequence: 2, action: "drop", network: "0.0.0.0/0" }, { sequence: 1, action: "allow", network: "192.168.1.7" }] })],
    });
    expect(c.serverKey).toBe("sha256:ae71074a19583f83b8d3fbe2fa9b273f861e177f306e127c8c988b87061ab3b5");
    expect(c.https[0]!.firewall.map((f) => f.network)).toEqual(["192.168.1.7/32", "0.0.0.0/0"]);
  });
});

function emptyish() {
  return { secure: false, destination: "127.0.0.1", port: 0, tls: 0, httpsUpstream: 0, webRoot: "", useLetsEnc: false, ca: "", privateKey: "", redirect: false, password: HASH, basicHttpAuth: `bob:${HASH}`, rewriteHost: "", redirectURL: "", insecureUpstream: false, firewall: [] };
}

describe("acme and httpsUpstream (spokes' additions to the original file)", () => {
  test("absent: no acme object, httpsUpstream 0; present: kept", () => {
    const bare = validateClientConfig({ https: [{ domain: "a.example.com", tls: 443 }] });
    expect(bare.acme).toBeUndefined();
    expect(bare.https[0]).toMatchObject({ tls: 443, httpsUpstream: 0 });
    const c = validateClientConfig({ acme: { directoryUrl: "https://127.0.0.1:14000/dir", email: "ops@example.com" }, https: [{ domain: "a.example.com", httpsUpstream: 8443 }] });
    expect(c.acme).toEqual({ directoryUrl: "https://127.0.0.1:14000/dir", email: "ops@example.com" });
    expect(c.https[0]!.httpsUpstream).toBe(8443);
  });
  test("bad values name the field", () => {
    expect(() => validateClientConfig({ acme: { directoryUrl: "ftp:x" } })).toThrow('config acme.directoryUrl ("ftp:x") must be an http(s) URL');
    expect(() => validateClientConfig({ acme: { email: "nobody" } })).toThrow('config acme.email ("nobody") must be an email address');
    expect(() => validateClientConfig({ https: [{ domain: "a.example.com", httpsUpstream: 70000 }] })).toThrow("config https[0].httpsUpstream (70000) must be between 1 and 65535");
  });
});

describe("failoverHosts (cluster nodes tried after serverHost)", () => {
  test("absent: no key in the file; present: normalized to host:port, kept after serverHost", () => {
    expect(validateClientConfig({ serverHost: "a.example.com:443" }).failoverHosts).toBeUndefined();
    const c = validateClientConfig({ serverHost: "a.example.com:443", failoverHosts: ["B.example.com", "10.0.0.3:8443", "[::1]:9443"] });
    expect(c.failoverHosts).toEqual(["b.example.com:443", "10.0.0.3:8443", "[::1]:9443"]);
    expect(Object.keys(c).indexOf("failoverHosts")).toBe(Object.keys(c).indexOf("serverHost") + 1);
  });
  test("bad values name the field", () => {
    expect(() => validateClientConfig({ serverHost: "a.example.com:443", failoverHosts: "b.example.com" })).toThrow("config failoverHosts must be an array");
    expect(() => validateClientConfig({ serverHost: "a.example.com:443", failoverHosts: ["b.example.com", "c:99999"] })).toThrow('config failoverHosts[1] ("c:99999") has an invalid port');
    expect(() => validateClientConfig({ failoverHosts: ["b.example.com"] })).toThrow("config failoverHosts needs serverHost (the first address)");
  });
});

describe("load and save", () => {
  test("save is atomic, 0600, and round-trips", () => {
    const dir = tempDir();
    const path = join(dir, "sub", "config.json");
    const c: ClientConfig = { ...defaultClientConfig(), key: "secret", serverHost: "spokes.test:443" };
    saveClientConfig(path, c);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadClientConfig(path)).toEqual(c);
    saveClientConfig(path, { ...c, key: "other" });
    expect(loadClientConfig(path).key).toBe("other");
    expect(readdirSync(join(dir, "sub"))).toEqual(["config.json"]);
  });

  test("missing and malformed files give one clear line", () => {
    const dir = tempDir();
    expect(() => loadClientConfig(join(dir, "nope.json"))).toThrow(`config file ${join(dir, "nope.json")} not found`);
    writeFileSync(join(dir, "bad.json"), "{ nope");
    expect(() => loadClientConfig(join(dir, "bad.json"))).toThrow("invalid JSON");
  });

  test("updateClientConfig validates the result before writing", async () => {
    const dir = tempDir();
    const path = join(dir, "config.json");
    saveClientConfig(path, defaultClientConfig());
    await updateClientConfig(path, (c) => {
      c.socks.listenPort = 1080;
    });
    expect(loadClientConfig(path).socks.listenPort).toBe(1080);
    await expect(
      updateClientConfig(path, (c) => {
        c.monitor.port = 1080;
      }),
    ).rejects.toThrow("config monitor.port (1080) is already used by socks.listenPort");
    expect(loadClientConfig(path).monitor.port).toBe(0);
  });
});

describe("config path", () => {
  const home = "/home/someone";
  const candidates = ["/etc/pktriot/config.json", "/data/config.json", "/home/someone/.pktriot/config.json"];

  test("candidates in the SPEC order", () => {
    expect(clientConfigCandidates(home)).toEqual(candidates);
  });

  test("existing-config commands: --config, then PKTRIOT_CONFIG, then the first candidate that exists", () => {
    const exists = (p: string) => p === "/x/c.json" || p === "/data/config.json" || p === candidates[2];
    expect(findClientConfigPath({ flag: "/x/c.json", env: { PKTRIOT_CONFIG: "/y.json" }, home, exists })).toBe("/x/c.json");
    expect(() => findClientConfigPath({ env: { PKTRIOT_CONFIG: "/y.json" }, home, exists })).toThrow("config file /y.json not found");
    expect(findClientConfigPath({ env: {}, home, exists })).toBe("/data/config.json");
    expect(() => findClientConfigPath({ env: {}, home, exists: () => false })).toThrow("no configuration file found (looked in /etc/pktriot/config.json, /data/config.json, /home/someone/.pktriot/config.json)");
  });

  test("creating commands ask on a TTY and refuse without one", async () => {
    const asked: string[][] = [];
    const choose = async (c: string[]) => {
      asked.push(c);
      return c[2]!;
    };
    expect(await chooseClientConfigPath({ flag: "rel/c.json", env: {}, home, isTTY: false, choose })).toBe(join(process.cwd(), "rel/c.json"));
    expect(await chooseClientConfigPath({ env: { PKTRIOT_CONFIG: "/e.json" }, home, isTTY: false, choose })).toBe("/e.json");
    await expect(chooseClientConfigPath({ env: {}, home, isTTY: false, choose })).rejects.toThrow("no TTY to ask where to store the configuration; pass --config PATH");
    expect(await chooseClientConfigPath({ env: {}, home, isTTY: true, choose })).toBe(candidates[2]!);
    expect(asked).toEqual([candidates]);
  });
});

describe("watchClientConfig", () => {
  test("reports saved changes, skips unchanged bytes, keeps the last good config on a bad edit", async () => {
    const dir = tempDir();
    const path = join(dir, "config.json");
    saveClientConfig(path, defaultClientConfig());
    const seen: ClientConfig[] = [];
    const errors: unknown[] = [];
    const w = watchClientConfig(path, (c) => seen.push(c), { debounceMs: 20, onError: (e) => errors.push(e) });
    try {
      saveClientConfig(path, { ...defaultClientConfig(), socks: { listenPort: 1080 } });
      await waitFor(() => seen.length === 1, "first reload");
      expect(seen[0]!.socks.listenPort).toBe(1080);
      writeFileSync(path, JSON.stringify({ https: [rule({ port: 70000 })] }));
      await waitFor(() => errors.length === 1, "validation error");
      expect(String(errors[0])).toContain("https[0].port (70000)");
      saveClientConfig(path, { ...defaultClientConfig(), monitor: { port: 9000 } });
      await waitFor(() => seen.length === 2, "second reload");
      expect(seen[1]!.monitor.port).toBe(9000);
      // Rewriting identical bytes is not a change.
      saveClientConfig(path, { ...defaultClientConfig(), monitor: { port: 9000 } });
      await Bun.sleep(100);
      expect(seen.length).toBe(2);
    } finally {
      w.close();
    }
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path, "utf8")).toContain('"port": 9000');
  });
});
