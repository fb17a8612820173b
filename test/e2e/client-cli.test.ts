// End-to-end tests of the pktriot client commands with the real dist/pktriot executable,
// against a fake server API over HTTPS with a throwaway self-signed certificate.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { PKTRIOT_BIN, freePort, tempDir, waitFor } from "../helpers.ts";
import { GOOD_REGISTRATION, TUNNEL_ID, makeSelfSignedCert, startFakeServer, type FakeServer, type TestCert } from "../unit/client/fake-server.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let home: string;

/**
 * Runs dist/pktriot without blocking this process (the fake server lives here). HOME is
 * a temp dir so ~/.pktriot of the machine is never read or written.
 */
async function pk(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<Result> {
  const proc = Bun.spawn([PKTRIOT_BIN, ...args], {
    stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TMPDIR: tmpdir(), ...opts.env },
  });
  const timer = setTimeout(() => proc.kill(), 30000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * Runs dist/pktriot on a pseudo-terminal (util-linux `script`), typing each answer once
 * its prompt has appeared, as a person would.
 */
async function pkTTY(args: string[], answers: [prompt: string, answer: string][]): Promise<Result> {
  const cmd = [PKTRIOT_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const proc = Bun.spawn(["script", "-qec", cmd, "/dev/null"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, TMPDIR: tmpdir(), TERM: "dumb", NO_COLOR: "1" },
  });
  let out = "";
  const reader = (async () => {
    const dec = new TextDecoder();
    const r = proc.stdout.getReader();
    for (let c = await r.read(); !c.done; c = await r.read()) out += dec.decode(c.value, { stream: true });
  })();
  const timer = setTimeout(() => proc.kill(), 30000);
  let from = 0;
  for (const [prompt, answer] of answers) {
    from = (await waitFor(() => (out.indexOf(prompt, from) >= 0 ? out.indexOf(prompt, from) + 1 : 0), `prompt ${JSON.stringify(prompt)}`)) + prompt.length;
    proc.stdin.write(`${answer}\n`);
    proc.stdin.flush();
  }
  proc.stdin.end();
  const code = await proc.exited;
  clearTimeout(timer);
  await reader;
  return { code, stdout: out.replace(/\r/g, "").replace(/\x1b\[[0-9;]*m/g, ""), stderr: await new Response(proc.stderr).text() };
}

const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8"));

let dir: string;
let cert: TestCert;
let other: TestCert;
let srv: FakeServer;

beforeAll(() => {
  if (!existsSync(PKTRIOT_BIN)) throw new Error(`${PKTRIOT_BIN} is missing: run bun scripts/build.ts first`);
  dir = tempDir("pktriot-e2e-");
  home = join(dir, "home");
  mkdirSync(home);
  cert = makeSelfSignedCert(dir);
  other = makeSelfSignedCert(dir, "spokes.test", "other");
  srv = startFakeServer(cert);
});
afterAll(() => srv?.stop());

let n = 0;
const newConfigPath = () => join(dir, `c${++n}`, "config.json");

/** A configured client (pinned to the fake server), ready for rule commands. */
async function configured(): Promise<string> {
  const config = newConfigPath();
  const r = await pk(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION, "--fingerprint", `sha256:${cert.fingerprint}`]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return config;
}

/** A bare config file (no server), enough for the commands that only edit rules. */
function bareConfig(): string {
  const config = newConfigPath();
  mkdirSync(join(config, ".."), { recursive: true });
  writeFileSync(config, "{}\n");
  return config;
}

// Every pktriot leaf this suite owns must be exercised below; a new command without a
// test fails here (start/version/quick mode belong to other suites).
const COVERED = new Set<string>();
const cover = (...paths: string[]) => paths.forEach((p) => COVERED.add(p));

describe("configuration path", () => {
  test("rule commands without any config say where they looked", async () => {
    const r = await pk(["tunnel", "http", "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: no configuration file found (looked in /etc/pktriot/config.json, /data/config.json, ${home}/.pktriot/config.json); run pktriot unmanaged configure, or pass --config PATH\n`);
  });

  test("configure without a TTY and without --config refuses to pick a path", async () => {
    const r = await pk(["unmanaged", "configure", "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION, "--insecure"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: no TTY to ask where to store the configuration; pass --config PATH\n");
    expect(existsSync(join(home, ".pktriot"))).toBe(false);
  });

  test("PKTRIOT_CONFIG and --config before or after the subcommand", async () => {
    const config = bareConfig();
    expect((await pk(["ports", "ls"], { env: { PKTRIOT_CONFIG: config } })).stdout).toContain("0 port mappings");
    expect((await pk(["--config", config, "ports", "ls"])).code).toBe(0);
    expect((await pk(["ports", "ls", `--config=${config}`])).code).toBe(0);
    const missing = await pk(["ports", "ls", "--config", join(dir, "nope.json")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toStartWith(`error: config file ${join(dir, "nope.json")} not found`);
  });

  test("an invalid config names the field", async () => {
    const config = bareConfig();
    writeFileSync(config, JSON.stringify({ https: [{ domain: "a.example.com", port: 70000 }] }));
    const r = await pk(["tunnel", "http", "ls", "--config", config]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "error: config https[0].port (70000) must be between 1 and 65535\n" });
  });
});

describe("unmanaged configure", () => {
  test("--registration with a pinned fingerprint registers and writes the config", async () => {
    cover("unmanaged configure");
    const config = newConfigPath();
    const r = await pk([
      "unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION,
      "--id", "user-7", "--tunnel-hostname", "App.Spokes.Test", "--fingerprint", cert.fingerprint.match(/../g)!.join(":").toUpperCase(),
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Tunnel configured. Tunnel ID: ${TUNNEL_ID}\n`);
    expect(r.stdout).toContain(`Configuration saved to ${config}\n`);
    const req = srv.requests.findLast((q) => q.path === "register")!;
    expect(req.method).toBe("POST");
    expect(req.body).toEqual({ token: GOOD_REGISTRATION, id: "user-7", hostname: "app.spokes.test" });
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers.accept).toBe("application/json");
    const c = readJson(config);
    expect(c).toMatchObject({ version: "1.0.0", serverHost: srv.hostPort, tunnelID: TUNNEL_ID, hostname: "app.spokes.test", serverKey: `sha256:${cert.fingerprint}`, unmanaged: true, insecure: false, ca: "" });
    expect(c.key).toMatch(/^key-/);
    expect(statSync(config).mode & 0o777).toBe(0o600);
  });

  test("--key is checked with the server; --ca trusts the server's certificate", async () => {
    const config = newConfigPath();
    const r = await pk(["unmanaged", "configuration", "--config", config, "--hostname", srv.hostPort, "--key", "key-existing", "--ca", cert.certPath]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const req = srv.requests.at(-1)!;
    expect(req).toMatchObject({ method: "POST", path: "auth", body: {} });
    expect(req.headers.authorization).toBe("Bearer key-existing");
    expect(readJson(config)).toMatchObject({ key: "key-existing", tunnelID: TUNNEL_ID, ca: cert.certPath, serverKey: "" });
    // Later commands trust the same CA.
    expect((await pk(["status", "--config", config])).stdout).toContain("Online:    no");
  });

  test("an unknown key is refused with the server's error", async () => {
    const config = newConfigPath();
    const r = await pk(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--key", "key-bogus", "--ca", cert.certPath]);
    expect(r).toMatchObject({ code: 1, stderr: "error: server refused: invalid or inactive key\n" });
    expect(existsSync(config)).toBe(false);
  });

  test("a wrong pin is refused before anything is sent", async () => {
    const before = srv.requests.length;
    const config = newConfigPath();
    const r = await pk(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION, "--fingerprint", `sha256:${other.fingerprint}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: the certificate of server ${srv.hostPort} does not match the pinned fingerprint (expected sha256:${other.fingerprint}, got sha256:${cert.fingerprint})\n`);
    expect(srv.requests.length).toBe(before);
    expect(existsSync(config)).toBe(false);
  });

  test("--ca with another certificate fails verification", async () => {
    const r = await pk(["unmanaged", "configure", "--config", newConfigPath(), "--hostname", srv.hostPort, "--key", "key-existing", "--ca", other.certPath]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith(`error: the certificate of server ${srv.hostPort} is not trusted`);
  });

  test("--insecure works and warns once, when chosen; later commands print only their own line", async () => {
    const config = newConfigPath();
    const warning = "WARNING: --insecure disables server certificate verification; anyone on the path can impersonate the server\n";
    const r = await pk(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION, "--insecure"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(warning);
    expect(readJson(config).insecure).toBe(true);
    const s = await pk(["status", "--config", config]);
    expect(s.stderr).toBe("");
    const a = await pk(["tunnel", "tcp", "allocate", "--config", config]);
    expect(a.code).toBe(0);
    expect(a.stderr).toBe("");
    // A refused command: exactly one line on stderr, no warning in front of it.
    srv.keys.delete(readJson(config).key);
    const refused = await pk(["tunnel", "tcp", "allocate", "--config", config]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: [^\n]*invalid or inactive key[^\n]*\n$/);
  });

  test("an untrusted certificate without a TTY fails and says what to pass", async () => {
    const before = srv.requests.length;
    const config = newConfigPath();
    const r = await pk(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: the certificate of server ${srv.hostPort} is not trusted (self-signed certificate; fingerprint sha256:${cert.fingerprint}); pass --ca FILE, --fingerprint sha256:${cert.fingerprint} after checking it, or --insecure\n`,
    );
    // The registration token never went to the unverified server.
    expect(srv.requests.length).toBe(before);
    expect(existsSync(config)).toBe(false);
  });

  test.skipIf(!Bun.which("script"))("on a TTY it asks for the path and whether to trust the certificate", async () => {
    const r = await pkTTY(["unmanaged", "configure", "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION], [
      ["Input selection [#]: ", "3"],
      ["Trust this server? [y/N] ", "y"],
    ]);
    expect(r.stdout).toContain(`Choose a path to the configuration file:\n[1] /etc/pktriot/config.json\n[2] /data/config.json\n[3] ${home}/.pktriot/config.json\n`);
    expect(r.stdout).toContain(`The server's certificate is not trusted. Fingerprint: sha256:${cert.fingerprint}\n`);
    expect(r.stdout).toContain("Trust this server? [y/N]");
    expect(r.stdout).toContain("Tunnel configured.");
    expect(r.code).toBe(0);
    expect(readJson(join(home, ".pktriot", "config.json")).serverKey).toBe(`sha256:${cert.fingerprint}`);
    // With the default path in place, commands find it without --config.
    expect((await pk(["status"])).stdout).toContain(`Config:    ${home}/.pktriot/config.json`);
  });

  test.skipIf(!Bun.which("script"))("answering no changes nothing", async () => {
    const config = newConfigPath();
    const r = await pkTTY(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--registration", GOOD_REGISTRATION], [["Trust this server? [y/N] ", "n"]]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("error: server certificate not trusted; nothing was changed");
    expect(existsSync(config)).toBe(false);
  });

  const usage: [string, string[], string][] = [
    ["no --hostname", ["--registration", "t"], "error: --hostname needs a value\n"],
    ["no token", ["--hostname", "h.example.com"], "error: give --registration or --key\n"],
    ["both tokens", ["--hostname", "h.example.com", "--registration", "t", "--key", "k"], "error: give either --registration or --key, not both\n"],
    ["two trust flags", ["--hostname", "h.example.com", "--key", "k", "--ca", "x.pem", "--insecure"], "error: give only one of --ca, --insecure\n"],
    ["--id with --key", ["--hostname", "h.example.com", "--key", "k", "--id", "u"], "error: --id and --tunnel-hostname apply only with --registration\n"],
    ["unknown flag", ["--hostname", "h.example.com", "--key", "k", "--nope"], "error: unknown flag --nope\n"],
  ];
  for (const [name, args, stderr] of usage) {
    test(`usage error: ${name} (exit 2)`, async () => {
      expect(await pk(["unmanaged", "configure", "--config", newConfigPath(), ...args])).toEqual({ code: 2, stdout: "", stderr });
    });
  }

  const bad: [string, string[], string][] = [
    ["bad port", ["--hostname", "h.example.com:70000", "--key", "k"], 'error: --hostname "h.example.com:70000" has an invalid port ("70000"); use a number between 1 and 65535\n'],
    ["bad fingerprint", ["--hostname", "h.example.com", "--key", "k", "--fingerprint", "sha256:abc"], 'error: fingerprint "sha256:abc" is not a SHA-256 fingerprint (sha256:<64 hex digits>)\n'],
    ["bad tunnel hostname", ["--hostname", "h.example.com", "--registration", "t", "--tunnel-hostname", "a_b!"], 'error: --tunnel-hostname "a_b!" is not a valid host name\n'],
    ["missing CA file", ["--hostname", "h.example.com", "--key", "k", "--ca", "/nonexistent/ca.pem"], "error: cannot read CA file /nonexistent/ca.pem: no such file\n"],
    ["bad entry in a server list", ["--hostname", "a.example.com,b.example.com:0", "--key", "k"], 'error: --hostname "a.example.com,b.example.com:0" entry "b.example.com:0" has an invalid port ("0"); use a number between 1 and 65535\n'],
  ];
  for (const [name, args, stderr] of bad) {
    test(`bad input: ${name} (exit 1)`, async () => {
      expect(await pk(["unmanaged", "configure", "--config", newConfigPath(), ...args])).toEqual({ code: 1, stdout: "", stderr });
    });
  }

  test("a wrong registration token prints the server's reason", async () => {
    const r = await pk(["unmanaged", "configure", "--config", newConfigPath(), "--hostname", srv.hostPort, "--registration", "wrong", "--fingerprint", cert.fingerprint]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "error: server refused: invalid registration token\n" });
  });

  test("an unreachable server is reported with its address", async () => {
    const port = await freePort();
    const r = await pk(["unmanaged", "configure", "--config", newConfigPath(), "--hostname", `127.0.0.1:${port}`, "--registration", GOOD_REGISTRATION, "--fingerprint", cert.fingerprint]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: `error: cannot reach server 127.0.0.1:${port}: connection refused\n` });
  });

  test("several addresses (cluster nodes): the first one that answers registers; the list is saved, first in serverHost", async () => {
    const down = await freePort();
    const config = newConfigPath();
    const r = await pk(["unmanaged", "configure", "--config", config, "--hostname", `127.0.0.1:${down},${srv.hostPort}`, "--registration", GOOD_REGISTRATION, "--fingerprint", cert.fingerprint]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Failover: ${srv.hostPort}\n`);
    expect(readJson(config)).toMatchObject({ serverHost: `127.0.0.1:${down}`, failoverHosts: [srv.hostPort] });
    const status = await pk(["status", "--config", config]);
    expect(status.stdout).toContain(`\tFailover:  ${srv.hostPort}\n`);
    // One address again: the list is gone from the file.
    expect((await pk(["unmanaged", "configure", "--config", config, "--hostname", srv.hostPort, "--key", readJson(config).key, "--fingerprint", cert.fingerprint])).code).toBe(0);
    expect(readJson(config).failoverHosts).toBeUndefined();
  });
});

describe("unmanaged deauth", () => {
  test("deactivates the key on the server and removes it locally", async () => {
    cover("unmanaged deauth");
    const config = await configured();
    const key = readJson(config).key;
    expect(srv.keys.has(key)).toBe(true);
    const r = await pk(["unmanaged", "deauth", "--config", config]);
    expect(r).toEqual({ code: 0, stdout: "Tunnel deauthorized\n", stderr: "" });
    expect(srv.requests.at(-1)).toMatchObject({ method: "POST", path: "deauth" });
    expect(srv.requests.at(-1)!.headers.authorization).toBe(`Bearer ${key}`);
    expect(srv.keys.has(key)).toBe(false);
    expect(readJson(config)).toMatchObject({ key: "", tunnelID: "" });
    const again = await pk(["unmanaged", "deauth", "--config", config]);
    expect(again.code).toBe(1);
    expect(again.stderr).toStartWith("error: this client is not configured");
  });
});

describe("tunnel http", () => {
  test("add, ls, replace, rm", async () => {
    cover("tunnel http add", "tunnel http ls", "tunnel http rm");
    const config = bareConfig();
    const web = join(dir, "www");
    mkdirSync(web, { recursive: true });
    expect(await pk(["tunnel", "http", "add", "--config", config, "--domain", "App.Example.com", "--http", "8080", "--redirect", "--letsencrypt", "--allow", "10.0.0.0/8", "--drop", "0.0.0.0/0", "--allow=192.168.1.7"])).toEqual({
      code: 0,
      stdout: "Added HTTP rule for app.example.com\n",
      stderr: "",
    });
    expect((await pk(["tunnel", "http", "add", "--config", config, "--domain", "static.example.com", "--webroot", web])).code).toBe(0);
    expect((await pk(["route", "http", "add", "--config", config, "--domain", "pass.example.com", "--destination", "192.168.1.101", "--http", "80", "--tls", "443", "--rewrite-host", "internal.lan"])).code).toBe(0);

    const rule = readJson(config).https[0];
    expect(rule).toMatchObject({ domain: "app.example.com", destination: "127.0.0.1", port: 8080, tls: 0, useLetsEnc: true, secure: true, redirect: true });
    expect(rule.firewall).toEqual([
      { sequence: 1, action: "allow", network: "10.0.0.0/8" },
      { sequence: 2, action: "drop", network: "0.0.0.0/0" },
      { sequence: 3, action: "allow", network: "192.168.1.7/32" },
    ]);

    const ls = await pk(["tunnel", "http", "ls", "--config", config]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain("| Domain             | Destination   | HTTP | TLS pass-through | HTTPS re-encrypt | Webroot");
    expect(ls.stdout).toMatch(/\| app\.example\.com +\| 127\.0\.0\.1 +\| 8080 \| -- +\| -- +\| -- +\| letsencrypt \(client\) +\| yes +\| -- +\|/);
    expect(ls.stdout).toMatch(/\| pass\.example\.com +\| 192\.168\.1\.101 \| 80 +\| 443 +\| -- +\| -- +\| destination's \(pass-through\) \|/);
    expect(ls.stdout).toEndWith("3 HTTP rules\n");


    // The same domain again replaces the rule.
    expect((await pk(["tunnel", "http", "add", "--config", config, "--domain", "app.example.com", "--http", "9090"])).stdout).toBe("Updated HTTP rule for app.example.com\n");
    const json = JSON.parse((await pk(["tunnel", "http", "ls", "--json", "--config", config])).stdout);
    expect(json.map((r: { domain: string }) => r.domain)).toEqual(["app.example.com", "static.example.com", "pass.example.com"]);
    expect(json[0]).toMatchObject({ port: 9090, useLetsEnc: false, firewall: [] });

    expect(await pk(["tunnel", "http", "rm", "--config", config, "--domain", "static.example.com"])).toEqual({ code: 0, stdout: "Removed HTTP rule for static.example.com\n", stderr: "" });
    expect(await pk(["tunnel", "http", "rm", "--config", config, "--domain", "static.example.com"])).toEqual({ code: 1, stdout: "", stderr: "error: no HTTP rule for static.example.com\n" });
    expect((await pk(["tunnel", "http", "ls", "--config", config])).stdout).toEndWith("2 HTTP rules\n");
  });

  test("--https-upstream re-encrypts (its own field); ls names who holds the certificate", async () => {
    const config = bareConfig();
    expect((await pk(["tunnel", "http", "add", "--config", config, "--domain", "reenc.example.com", "--https-upstream", "8443", "--insecure-upstream"])).code).toBe(0);
    expect(readJson(config).https[0]).toMatchObject({ tls: 0, httpsUpstream: 8443, insecureUpstream: true, secure: true });
    expect((await pk(["tunnel", "http", "ls", "--config", config])).stdout).toMatch(/\| reenc\.example\.com +\| 127\.0\.0\.1 +\| -- +\| -- +\| 8443 +\| -- +\| server's +\|/);
  });

  test("passwords and basic auth are stored hashed, never in plain text", async () => {
    const config = bareConfig();
    const r = await pk(["tunnel", "http", "add", "--config", config, "--domain", "secret.example.com", "--http", "3000", "--password", "hunter2-plain", "--basic-user", "bob", "--basic-password", "b0b-plain"]);
    expect(r.code).toBe(0);
    const text = readFileSync(config, "utf8");
    expect(text).not.toContain("hunter2-plain");
    expect(text).not.toContain("b0b-plain");
    const rule = JSON.parse(text).https[0];
    expect(rule.password).toStartWith("$argon2id$");
    expect(rule.basicHttpAuth).toStartWith("bob:$argon2id$");
    expect(await Bun.password.verify("hunter2-plain", rule.password)).toBe(true);
    expect(await Bun.password.verify("b0b-plain", rule.basicHttpAuth.slice("bob:".length))).toBe(true);
    expect((await pk(["tunnel", "http", "ls", "--config", config])).stdout).toContain("| password, basic (bob) |");
  });

  test("a custom certificate must exist, pair with its key and cover the domain", async () => {
    const config = bareConfig();
    const ok = await pk(["tunnel", "http", "add", "--config", config, "--domain", "spokes.test", "--http", "80", "--ca", cert.certPath, "--key", cert.keyPath]);
    expect(ok.code).toBe(0);
    expect(readJson(config).https[0]).toMatchObject({ ca: cert.certPath, privateKey: cert.keyPath, secure: true });
    const mismatch = await pk(["tunnel", "http", "add", "--config", config, "--domain", "spokes.test", "--http", "80", "--ca", cert.certPath, "--key", other.keyPath]);
    expect(mismatch).toEqual({ code: 1, stdout: "", stderr: `error: private key ${other.keyPath} does not match the certificate ${cert.certPath}\n` });
    const wrongName = await pk(["tunnel", "http", "add", "--config", config, "--domain", "app.example.com", "--http", "80", "--ca", cert.certPath, "--key", cert.keyPath]);
    expect(wrongName.stderr).toStartWith(`error: certificate ${cert.certPath} does not cover app.example.com (it covers: `);
    const missing = await pk(["tunnel", "http", "add", "--config", config, "--domain", "spokes.test", "--http", "80", "--ca", join(dir, "none.pem"), "--key", cert.keyPath]);
    expect(missing.stderr).toBe(`error: cannot read certificate ${join(dir, "none.pem")}: no such file\n`);
  });

  const bad: [string, string[], number, string][] = [
    ["no target", ["--domain", "a.example.com"], 2, "error: give at least one of --http, --tls, --https-upstream or --webroot\n"],
    ["tls with https-upstream", ["--domain", "a.example.com", "--tls", "443", "--https-upstream", "8443"], 2, "error: give either --tls (TLS passed through to the destination) or --https-upstream (TLS re-encrypted to the destination), not both\n"],
    ["tls with a password", ["--domain", "a.example.com", "--tls", "443", "--password", "p"], 2, "error: --tls passes the visitor's TLS through untouched, so no password can be checked on it; use --https-upstream PORT with --password/--basic-user\n"],
    ["letsencrypt on a wildcard", ["--domain", "*.example.com", "--http", "80", "--letsencrypt"], 1, "error: --letsencrypt cannot cover *.example.com: Let's Encrypt proves a wildcard only over DNS-01, the client uses HTTP-01; give a wildcard certificate with --ca/--key\n"],
    ["no domain", ["--http", "80"], 2, "error: --domain needs a value\n"],
    ["webroot with http", ["--domain", "a.example.com", "--http", "80", "--webroot", "/tmp"], 2, "error: --webroot serves files itself; it cannot be combined with --http, --tls or --https-upstream\n"],
    ["ca without key", ["--domain", "a.example.com", "--http", "80", "--ca", "x.pem"], 2, "error: --ca and --key go together (the certificate chain and its private key)\n"],
    ["letsencrypt with ca", ["--domain", "a.example.com", "--http", "80", "--letsencrypt", "--ca", "x", "--key", "y"], 2, "error: give either --letsencrypt or --ca/--key, not both\n"],
    ["basic user alone", ["--domain", "a.example.com", "--http", "80", "--basic-user", "bob"], 2, "error: --basic-user and --basic-password go together\n"],
    ["unknown flag", ["--domain", "a.example.com", "--http", "80", "--port", "9"], 2, "error: unknown flag --port\n"],
    ["port out of range", ["--domain", "a.example.com", "--http", "70000"], 1, "error: --http (70000) must be between 1 and 65535\n"],
    ["port not a number", ["--domain", "a.example.com", "--tls", "https"], 1, 'error: --tls must be a port number (got "https")\n'],
    ["bad domain", ["--domain", "not a domain", "--http", "80"], 1, 'error: --domain "not a domain" is not a valid domain name\n'],
    ["bad destination", ["--domain", "a.example.com", "--http", "80", "--destination", "bad host!"], 1, 'error: --destination "bad host!" is not a valid host name or IP address\n'],
    ["missing webroot", ["--domain", "a.example.com", "--webroot", "/nonexistent/www"], 1, "error: --webroot /nonexistent/www is not a directory\n"],
    ["bad network", ["--domain", "a.example.com", "--http", "80", "--allow", "10.0.0.0/33"], 1, 'error: --allow "10.0.0.0/33" is not an IP address or CIDR network\n'],
    ["colon in basic user", ["--domain", "a.example.com", "--http", "80", "--basic-user", "a:b", "--basic-password", "p"], 1, "error: --basic-user must not contain a colon (RFC 7617)\n"],
  ];
  for (const [name, args, code, stderr] of bad) {
    test(`add rejects ${name} (exit ${code}) and leaves the file alone`, async () => {
      const config = bareConfig();
      expect(await pk(["tunnel", "http", "add", "--config", config, ...args])).toEqual({ code, stdout: "", stderr });
      expect(readFileSync(config, "utf8")).toBe("{}\n");
    });
  }
});

describe("tunnel tcp", () => {
  test("allocate, forward, ls, rm, release", async () => {
    cover("tunnel tcp allocate", "tunnel tcp forward", "tunnel tcp ls", "tunnel tcp rm", "tunnel tcp release");
    const config = await configured();
    const a = await pk(["tunnel", "tcp", "allocate", "--config", config]);
    expect(a.code).toBe(0);
    const port = Number(a.stdout.match(/^Allocated port (\d+)\n$/)![1]);
    expect(srv.requests.at(-1)).toMatchObject({ method: "POST", path: "ports/allocate" });
    expect(readJson(config).ports).toEqual([{ port, destination: "", dstPort: 0, firewall: [] }]);

    expect(await pk(["tunnel", "tcp", "forward", "--config", config, "--port", String(port), "--destination", "192.168.1.101", "--dstport", "22", "--allow", "10.0.0.0/8"])).toEqual({
      code: 0,
      stdout: `Forwarding port ${port} to 192.168.1.101:22\n`,
      stderr: "",
    });
    expect(readJson(config).ports[0]).toEqual({ port, destination: "192.168.1.101", dstPort: 22, firewall: [{ sequence: 1, action: "allow", network: "10.0.0.0/8" }] });
    const ls = await pk(["tunnel", "tcp", "ls", "--config", config]);
    expect(ls.stdout).toContain(`| ${port} | 192.168.1.101 | 22       |`);
    expect(ls.stdout).toEndWith("1 port\n");

    const notMine = await pk(["tunnel", "tcp", "forward", "--config", config, "--port", "22999", "--destination", "h", "--dstport", "22"]);
    expect(notMine).toEqual({ code: 1, stdout: "", stderr: `error: port 22999 is not allocated to this tunnel (allocated: ${port})\n` });
    expect((await pk(["tunnel", "tcp", "forward", "--config", config, "--port", String(port), "--destination", "h"])).code).toBe(2);

    expect((await pk(["tunnel", "tcp", "rm", "--config", config, "--port", String(port)])).code).toBe(0);
    expect(readJson(config).ports).toEqual([{ port, destination: "", dstPort: 0, firewall: [] }]);
    expect((await pk(["tunnel", "tcp", "ls", "--json", "--config", config])).stdout).toContain(`"port": ${port}`);

    expect(await pk(["tunnel", "tcp", "release", "--config", config, "--port", String(port)])).toEqual({ code: 0, stdout: `Released port ${port}\n`, stderr: "" });
    expect(srv.requests.at(-1)).toMatchObject({ method: "POST", path: "ports/release", body: { port } });
    expect(readJson(config).ports).toEqual([]);
    expect((await pk(["tunnel", "tcp", "release", "--config", config, "--port", String(port)])).code).toBe(1);
  });

  test("allocate needs a configured client", async () => {
    const r = await pk(["tunnel", "tcp", "allocate", "--config", bareConfig()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toStartWith("error: this client is not configured");
  });
});

describe("ports and proxies", () => {
  test("ports map, ls, rm with validation", async () => {
    cover("ports map", "ports ls", "ports rm");
    const config = bareConfig();
    // A free port: `ports map` refuses one another program listens on.
    const local = await freePort();
    const L = String(local);
    expect(await pk(["ports", "map", L, "--transport", "tcp", "--destination", "redis", "--port", "22123", "--config", config])).toEqual({
      code: 0,
      stdout: `Mapped 127.0.0.1:${L} to redis:22123 (tcp)\n`,
      stderr: "",
    });
    expect(readJson(config).portmaps).toEqual([{ listenPort: local, dstPort: 22123, destination: "redis", transport: "tcp", label: "", http: false }]);
    const ls = await pk(["ports", "ls", "--config", config]);
    expect(ls.stdout).toContain("| Local Port | Transport | Host  | Destination Port |");
    expect(ls.stdout).toContain(`| ${L.padEnd(10)} | tcp       | redis | 22123            |`);
    expect(ls.stdout).toEndWith("1 port mapping\n");

    const dup = await pk(["ports", "map", L, "--destination", "other", "--port", "1", "--config", config]);
    expect(dup).toEqual({ code: 1, stdout: "", stderr: `error: local port ${L} is already used by port mapping ${L} (remove it first with pktriot ports rm ${L})\n` });
    expect((await pk(["ports", "map", "70000", "--destination", "h", "--port", "1", "--config", config])).stderr).toBe("error: local port (70000) must be between 1 and 65535\n");
    expect((await pk(["ports", "map", "7000", "--transport", "udp", "--destination", "h", "--port", "1", "--config", config])).stderr).toBe('error: --transport "udp" is not supported (only tcp)\n');
    expect((await pk(["ports", "map", "--destination", "h", "--port", "1", "--config", config])).code).toBe(2);

    expect(await pk(["ports", "rm", L, "--config", config])).toEqual({ code: 0, stdout: "Removed port mapping\n", stderr: "" });
    expect(await pk(["ports", "rm", L, "--config", config])).toEqual({ code: 1, stdout: "", stderr: `error: no port mapping on local port ${L}\n` });
  });

  test("proxies socks listen and rm", async () => {
    cover("proxies socks listen", "proxies socks rm");
    const config = bareConfig();
    const local = await freePort();
    const L = String(local);
    expect((await pk(["proxies", "socks", "listen", L, "--config", config])).code).toBe(0);
    expect(readJson(config).socks).toEqual({ listenPort: local });
    const clash = await pk(["ports", "map", L, "--destination", "h", "--port", "1", "--config", config]);
    expect(clash.stderr).toBe(`error: local port ${L} is already used by the SOCKS proxy\n`);
    expect((await pk(["proxies", "socks", "rm", "--config", config])).stdout).toBe(`Removed SOCKS proxy on 127.0.0.1:${L}\n`);
    expect(readJson(config).socks).toEqual({ listenPort: 0 });
    expect(await pk(["proxies", "socks", "rm", "--config", config])).toEqual({ code: 1, stdout: "", stderr: "error: no SOCKS proxy is configured\n" });
    expect((await pk(["proxies", "socks", "listen", "0", "--config", config])).code).toBe(1);
  });
});

describe("status", () => {
  test("shows server, tunnel, online state and rules; still works when the server is down", async () => {
    cover("status");
    const config = await configured();
    await pk(["tunnel", "http", "add", "--config", config, "--domain", "app.example.com", "--http", "8080"]);
    const r = await pk(["status", "--config", config]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`\tServer:    ${srv.hostPort}\n\tTunnel ID: ${TUNNEL_ID}\n`);
    expect(r.stdout).toContain(`\tConfig:    ${config}\n\tOnline:    no\n`);
    expect(r.stdout).toContain("app.example.com");
    expect(srv.requests.at(-1)).toMatchObject({ method: "GET", path: "status" });

    const info = await pk(["info", "--json", "--config", config]);
    expect(JSON.parse(info.stdout)).toMatchObject({ server: srv.hostPort, tunnelID: TUNNEL_ID, online: false, config });

    // Point the config at a closed port: the local rules are still shown.
    const port = await freePort();
    const c = readJson(config);
    writeFileSync(config, JSON.stringify({ ...c, serverHost: `127.0.0.1:${port}` }));
    const down = await pk(["status", "--config", config]);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain(`Online:    unknown (cannot reach server 127.0.0.1:${port}: connection refused)`);
    expect(down.stdout).toContain("app.example.com");
  });
});

describe("command coverage", () => {
  test("every client command of this suite is exercised", async () => {
    const { pktriot } = await import("../../commands/pktriot.ts");
    type Cmd = { subCommands?: Record<string, () => Promise<Cmd>> | (() => Promise<Record<string, () => Promise<Cmd>>>) };
    const leaves: string[] = [];
    async function walk(cmd: Cmd, path: string[]) {
      const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : cmd.subCommands;
      if (!subs || !Object.keys(subs).length) return void leaves.push(path.join(" "));
      for (const [name, load] of Object.entries(subs)) await walk(await load(), [...path, name]);
    }
    await walk(pktriot as unknown as Cmd, []);
    const mine = leaves.filter((l) => /^(unmanaged|tunnel|ports|proxies|status)\b/.test(l));
    expect(mine.filter((l) => !COVERED.has(l))).toEqual([]);
  });
});
