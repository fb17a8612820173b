// End-to-end: the server's SOCKS5 listeners (plain and inside TLS) and the tunnel mesh
// (`ports map`, `proxies socks listen`) through the real dist/ executables, with real
// clients: curl, redis-cli, and a hand-written SOCKS client for the reply codes curl
// hides. Two tunnels: A serves a redis-server (allocated TCP port) and a web app (HTTP
// rule app.spokes.test); B reaches both through the mesh. Every process is tracked and
// killed by PID; readiness is polled, never slept for.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { PKTRIOT_BIN, SPOKES_BIN, freePort, run, tempDir, waitFor, type RunResult } from "../helpers.ts";
import { connectRaw, type RawClient } from "../unit/socks/raw-client.ts";
import { socksRequest } from "./_socks-client.ts";
import { runAsync, spawnLogged as harnessSpawnLogged } from "./_tunnel-harness.ts";

const DOMAIN = "spokes.test";

/** Runs a program without blocking the event loop (the upstream web servers live in this process). */
const exec = (cmd: string[], timeoutMs = 30_000): Promise<RunResult> => runAsync(cmd, { timeoutMs });

/** A long-running process whose output is collected for readiness checks and failure messages. */
function spawnLogged(cmd: string[]): { proc: Subprocess; log: () => string; waitFor(text: string, timeoutMs?: number): Promise<void> } {
  const { proc, log } = harnessSpawnLogged(cmd);
  return {
    proc,
    log: () => log.text,
    waitFor: (needle, timeoutMs = 15_000) => log.waitFor(needle, { proc, timeoutMs }).then(() => undefined),
  };
}

/** A port range of 100 below the kernel's ephemeral range, so outgoing connections never take one. */
const randomPortRange = () => {
  const begin = 20_000 + Math.floor(Math.random() * 100) * 100;
  return { begin, end: begin + 99 };
};

interface Server {
  dir: string;
  config: string;
  ca: string;
  http: number;
  https: number;
  socks: number;
  socksTls: number;
  log: () => string;
  token(): string;
}

async function startServer(socks: Record<string, unknown>): Promise<Server> {
  const dir = tempDir("spokes-socks-e2e-");
  const [http, https, socksPort, socksTls] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(dir, "config.json");
  const socksConfig = { enabled: true, port: socksPort, tlsPort: socksTls, auth: "token", allow: [], ...socks };
  writeFileSync(
    config,
    JSON.stringify({ domain: DOMAIN, dataPath: dir, portRange: randomPortRange(), tls: { selfSigned: true }, listen: { address: "127.0.0.1", http, https }, socks: socksConfig }),
  );
  const p = spawnLogged([SPOKES_BIN, "serve", "--config", config]);
  await p.waitFor(`serving ${DOMAIN}: http 127.0.0.1:${http}`);
  return {
    dir,
    config,
    ca: join(dir, "tls", "self-signed.crt"),
    http,
    https,
    socks: socksConfig.port as number,
    socksTls: socksConfig.tlsPort as number,
    log: p.log,
    token() {
      const r = run(SPOKES_BIN, ["--config", config, "token", "create"]);
      if (r.code !== 0) throw new Error(`token create: ${r.stderr}`);
      return r.stdout.trim().split("\n").at(-1)!.trim();
    },
  };
}

interface Client {
  config: string;
  tunnelId: string;
  cli(args: string[]): Promise<RunResult>;
  must(args: string[]): Promise<string>;
  start(): Promise<void>;
  log: () => string;
  waitForLog(text: string): Promise<void>;
}

async function configureClient(server: Server): Promise<Client> {
  const dir = tempDir("pktriot-socks-e2e-");
  const config = join(dir, "client.json");
  const r = await exec([PKTRIOT_BIN, "unmanaged", "configure", "--config", config, "--hostname", `127.0.0.1:${server.https}`, "--key", server.token(), "--ca", server.ca]);
  if (r.code !== 0) throw new Error(`configure: ${r.stderr}${r.stdout}`);
  const tunnelId = r.stdout.match(/Tunnel ID: ([0-9a-f]{32})/)![1]!;
  let running: ReturnType<typeof spawnLogged> | undefined;
  const cli = (args: string[]) => exec([PKTRIOT_BIN, "--config", config, ...args]);
  return {
    config,
    tunnelId,
    cli,
    async must(args) {
      const out = await cli(args);
      if (out.code !== 0) throw new Error(`pktriot ${args.join(" ")}: exit ${out.code}: ${out.stderr}${out.stdout}`);
      return out.stdout;
    },
    async start() {
      running = spawnLogged([PKTRIOT_BIN, "--config", config, "start"]);
      await running.waitFor(`tunnel ${tunnelId} online`);
    },
    log: () => running?.log() ?? "",
    waitForLog: (text) => running!.waitFor(text),
  };
}

const dec = new TextDecoder();

/** One HTTP/1.0 GET over an established SOCKS connection; the whole response text. */
async function httpGet(c: RawClient, host: string): Promise<string> {
  await c.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
  return dec.decode(await c.readToClose(10_000));
}

/** curl through a SOCKS5 proxy that resolves names itself (socks5h). */
function curlSocks(proxyPort: number, url: string, proxyUser?: string): Promise<RunResult> {
  return exec(["curl", "-sS", "--max-time", "15", "--socks5-hostname", `127.0.0.1:${proxyPort}`, ...(proxyUser ? ["--proxy-user", proxyUser] : []), url]);
}

/** Lines of `redis-cli -p port ...args`. */
async function redis(port: number, ...args: string[]): Promise<string> {
  const r = await exec(["redis-cli", "-h", "127.0.0.1", "-p", String(port), ...args], 15_000);
  return (r.stdout + r.stderr).trim();
}

function canConnect(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** Local addresses of the sockets listening on `port`, from /proc/net/tcp{,6}. */
function listenAddresses(port: number): string[] {
  const out: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== "0A") continue; // 0A = LISTEN
      const [addr, hexPort] = f[1]!.split(":");
      if (parseInt(hexPort!, 16) !== port) continue;
      if (addr!.length === 8) out.push(addr!.match(/../g)!.reverse().map((h) => parseInt(h, 16)).join("."));
      else out.push(addr === "00000000000000000000000000000000" ? "::" : addr === "0000000000000000FFFF00000100007F" ? "::ffff:127.0.0.1" : `v6:${addr}`);
    }
  }
  return out;
}

// ---- the fixture: one server, tunnel A (redis + web app), tunnel B (mesh) --------------------

// The allow-listed external service binds 127.0.0.2 (loopback, but a different address from
// the server's own 127.0.0.1 ports): the allow-list names it exactly, as protected
// addresses require, and the server's own ports stay refused.
const EXTERNAL_HOST = "127.0.0.2";

let server: Server;
let a: Client;
let b: Client;
let tokenA: string;
let external: ReturnType<typeof Bun.serve>;
let appA: ReturnType<typeof Bun.serve>;
let externalPort: number;
let appPort: number;
let redisPort: number;
let allocated: number;
let mapPort: number;
let bSocks: number;

beforeAll(async () => {
  external = Bun.serve({ hostname: EXTERNAL_HOST, port: 0, fetch: () => new Response("hello from the allow-listed service\n") });
  appA = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`app A saw Host ${req.headers.get("host")}\n`) });
  externalPort = external.port!;
  appPort = appA.port!;

  redisPort = await freePort();
  const redisProc = spawnLogged(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
  await redisProc.waitFor("Ready to accept connections");

  // "localhost" resolves to loopback, which a name entry may not open: it stays refused.
  server = await startServer({ allow: [EXTERNAL_HOST, "localhost", "*.nowhere.invalid"] });

  a = await configureClient(server);
  tokenA = JSON.parse(readFileSync(a.config, "utf8")).key;
  const alloc = await a.must(["tunnel", "tcp", "allocate"]);
  allocated = Number(alloc.match(/Allocated port (\d+)/)![1]);
  await a.must(["tunnel", "tcp", "forward", "--port", String(allocated), "--destination", "127.0.0.1", "--dstport", String(redisPort)]);
  await a.must(["tunnel", "http", "add", "--domain", `app.${DOMAIN}`, "--http", String(appPort)]);
  await a.start();

  b = await configureClient(server);
  mapPort = await freePort();
  bSocks = await freePort();
  // Any hostname: an allocated port is matched by its number.
  expect(await b.must(["ports", "map", String(mapPort), "--transport", "tcp", "--destination", "redis.anywhere.example", "--port", String(allocated)])).toContain(
    `Mapped 127.0.0.1:${mapPort}`,
  );
  await b.must(["proxies", "socks", "listen", String(bSocks)]);
  await b.start();
  await b.waitForLog(`port map 127.0.0.1:${mapPort}`);
  await b.waitForLog(`SOCKS5 proxy on 127.0.0.1:${bSocks}`);
  // A's rules are announced asynchronously after it is online: wait until its port is routed.
  await waitFor(async () => (await redis(allocated, "PING")) === "PONG", "tunnel A's redis on its public port", 15_000, 100);
}, 60_000);

afterAll(() => {
  external?.stop(true);
  appA?.stop(true);
});

describe("public SOCKS5 listener (auth: token)", () => {
  test("curl --socks5-hostname with a valid token reaches an allow-listed service and a tunnel's web app", async () => {
    const r = await curlSocks(server.socks, `http://${EXTERNAL_HOST}:${externalPort}/`, `anyone:${tokenA}`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hello from the allow-listed service\n");
    const app = await curlSocks(server.socks, `http://app.${DOMAIN}/`, `anyone:${tokenA}`);
    expect(app.stdout).toBe(`app A saw Host app.${DOMAIN}\n`);
  });

  test("an allocated port is reached whatever the hostname", async () => {
    const c = await connectRaw(server.socks);
    expect(await socksRequest(c, { host: "any-name.example", port: allocated }, { password: tokenA })).toEqual({ stage: "reply", code: 0 });
    await c.write("PING\r\n");
    expect(dec.decode(await c.read(7))).toBe("+PONG\r\n");
    c.socket.end();
  });

  test("without credentials, or with a wrong token, curl is refused (exit 97)", async () => {
    const none = await curlSocks(server.socks, `http://${EXTERNAL_HOST}:${externalPort}/`);
    expect(none.code).toBe(97);
    const wrong = await curlSocks(server.socks, `http://${EXTERNAL_HOST}:${externalPort}/`, `anyone:${tokenA.slice(0, -1)}x`);
    expect(wrong.code).toBe(97);

    // The same on the wire: no acceptable method (0xFF); RFC 1929 failure status.
    const c1 = await connectRaw(server.socks);
    expect(await socksRequest(c1, { host: EXTERNAL_HOST, port: externalPort })).toEqual({ stage: "method", code: 0xff });
    const c2 = await connectRaw(server.socks);
    expect(await socksRequest(c2, { host: EXTERNAL_HOST, port: externalPort }, { password: "not-a-token" })).toEqual({ stage: "auth", code: 1 });
  });

  test("a revoked (inactive) token is refused", async () => {
    const token = server.token();
    const c = await connectRaw(server.socks);
    expect((await socksRequest(c, { host: EXTERNAL_HOST, port: externalPort }, { password: token })).code).toBe(0);
    c.socket.end();
    const rows = JSON.parse(run(SPOKES_BIN, ["--config", server.config, "token", "ls", "--json"]).stdout) as { id: string; value: string }[];
    const id = rows.find((t) => t.value === token)!.id;
    expect(run(SPOKES_BIN, ["--config", server.config, "token", "rm", "--id", id]).code).toBe(0);
    const after = await curlSocks(server.socks, `http://${EXTERNAL_HOST}:${externalPort}/`, `anyone:${token}`);
    expect(after.code).toBe(97);
  });

  test("destinations outside the allow-list and tunnel services get 0x02, the server's own ports included", async () => {
    const refused = [
      { host: "127.0.0.1", port: server.http }, // the server's own HTTP port (loopback, not listed)
      { host: "127.0.0.1", port: server.https },
      { host: "localhost", port: server.https }, // a listed name that resolves only to loopback
      { host: "192.0.2.10", port: 80 }, // TEST-NET, not listed
      { host: "unknown.spokes.test", port: 80 }, // no tunnel has this domain
      { host: `app.${DOMAIN}`, port: 8080 }, // an HTTP rule is served on 80/443 only
    ];
    for (const target of refused) {
      const c = await connectRaw(server.socks);
      expect({ target, ...(await socksRequest(c, target, { password: tokenA })) }).toEqual({ target, stage: "reply", code: 0x02 });
    }
    const r = await curlSocks(server.socks, `http://127.0.0.1:${server.http}/`, `anyone:${tokenA}`);
    expect(r.code).toBe(97);
  });

  test("an allowed address with nothing listening gets 0x05 (connection refused)", async () => {
    const closed = await freePort();
    const c = await connectRaw(server.socks);
    expect((await socksRequest(c, { host: EXTERNAL_HOST, port: closed }, { password: tokenA })).code).toBe(0x05);
  });

  test("BIND and UDP ASSOCIATE get 0x07", async () => {
    for (const command of [2, 3]) {
      const c = await connectRaw(server.socks);
      expect(await socksRequest(c, { host: EXTERNAL_HOST, port: externalPort }, { password: tokenA, command })).toEqual({ stage: "reply", code: 0x07 });
    }
  });

  test("SOCKS inside TLS (socks.tlsPort) with the server certificate, verified against its CA", async () => {
    const ca = readFileSync(server.ca, "utf8");
    const c = await connectRaw(server.socksTls, { tls: { ca, serverName: DOMAIN } });
    expect((await socksRequest(c, { host: EXTERNAL_HOST, port: externalPort }, { password: tokenA })).code).toBe(0);
    expect(await httpGet(c, EXTERNAL_HOST)).toContain("hello from the allow-listed service");

    const t = await connectRaw(server.socksTls, { tls: { ca, serverName: DOMAIN } });
    expect((await socksRequest(t, { host: "app.spokes.test", port: 80 }, { password: tokenA })).code).toBe(0);
    expect(await httpGet(t, `app.${DOMAIN}`)).toContain(`app A saw Host app.${DOMAIN}`);

    // Plain SOCKS on the TLS port is not a TLS handshake: closed without a SOCKS answer.
    const plain = await connectRaw(server.socksTls);
    await plain.write(Uint8Array.of(5, 1, 0, 5, 1, 0, 3, 1, 0x61, 0, 80));
    expect((await plain.readToClose(10_000)).includes(5)).toBe(false);
  });

  test("sessions are recorded with protocol socks (stats flushed to the database)", async () => {
    const db = new Database(join(server.dir, "spokes.db"), { readonly: true });
    try {
      const row = await waitFor(
        () =>
          db
            .query<{ tunnel_id: string; service: string; remote_address: string; bytes_out: number }, []>(
              "SELECT tunnel_id, service, remote_address, bytes_out FROM connections WHERE protocol = 'socks' AND service LIKE '127.0.0.2:%' AND bytes_out > 0",
            )
            .get(),
        "a socks connection row",
        15_000,
        200,
      );
      expect(row.tunnel_id).toBe(a.tunnelId);
      expect(row.remote_address).toBe("127.0.0.1");
    } finally {
      db.close();
    }
  }, 30_000);
});

describe("mesh: tunnel B reaches tunnel A through the server", () => {
  test("ports map: redis-cli PING, SET and GET on B's local port reach the redis behind A", async () => {
    expect(await redis(mapPort, "PING")).toBe("PONG");
    expect(await redis(mapPort, "SET", "mesh:key", "through the tunnels")).toBe("OK");
    expect(await redis(mapPort, "GET", "mesh:key")).toBe("through the tunnels");
    // Written through the mesh, read directly: the same redis.
    expect(await redis(redisPort, "GET", "mesh:key")).toBe("through the tunnels");
  });

  test("B's local SOCKS proxy: curl reaches A's web app by its hostname, and the allow-listed service", async () => {
    const r = await curlSocks(bSocks, `http://app.${DOMAIN}/`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`app A saw Host app.${DOMAIN}\n`);
    const ext = await curlSocks(bSocks, `http://${EXTERNAL_HOST}:${externalPort}/`);
    expect(ext.stdout).toBe("hello from the allow-listed service\n");
  });

  test("B's local SOCKS proxy passes the server's refusals through (0x02 for the server's own port)", async () => {
    const c = await connectRaw(bSocks);
    expect(await socksRequest(c, { host: "127.0.0.1", port: server.https })).toEqual({ stage: "reply", code: 0x02 });
    const r = await curlSocks(bSocks, `http://127.0.0.1:${server.http}/`);
    expect(r.code).toBe(97);
  });

  test("the local listeners bind 127.0.0.1 only", () => {
    expect(listenAddresses(mapPort)).toEqual(["127.0.0.1"]);
    expect(listenAddresses(bSocks)).toEqual(["127.0.0.1"]);
  });

  test("ports ls shows the SPEC table", async () => {
    const out = await b.must(["ports", "ls"]);
    expect(out).toMatch(/\| Local Port \| Transport \| Host\s+\| Destination Port \|/);
    expect(out).toMatch(new RegExp(`\\| ${mapPort}\\s+\\| tcp\\s+\\| redis\\.anywhere\\.example \\| ${allocated}\\s+\\|`));
    expect(out).toContain("1 port mapping");
  });

  test("ports map on a local port already in use fails at the command and saves nothing", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await b.cli(["ports", "map", String(busy.port), "--transport", "tcp", "--destination", "x.example", "--port", "80"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`local port ${busy.port} is already in use on 127.0.0.1`);
      expect(r.stderr).not.toContain("    at ");
      expect(JSON.parse(readFileSync(b.config, "utf8")).portmaps).toHaveLength(1);
      // The port of an existing mapping is named as such.
      const dup = await b.cli(["ports", "map", String(mapPort), "--transport", "tcp", "--destination", "x.example", "--port", "80"]);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toContain(`pktriot ports rm ${mapPort}`);
      // The same check for the SOCKS listener.
      const s = await b.cli(["proxies", "socks", "listen", String(busy.port)]);
      expect(s.code).toBe(1);
      expect(s.stderr).toContain("already in use");
    } finally {
      busy.stop(true);
    }
  });

  test("ports rm removes the mapping and the running client closes its listener", async () => {
    const r = await b.cli(["ports", "rm", String(mapPort)]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("Removed port mapping");
    await waitFor(async () => !(await canConnect(mapPort)), `127.0.0.1:${mapPort} closed`, 10_000, 100);
    expect(await b.must(["ports", "ls"])).toContain("0 port mappings");
    const again = await b.cli(["ports", "rm", String(mapPort)]);
    expect(again.code).toBe(1);
  }, 30_000);

  test("a mapping added while the client runs is applied live", async () => {
    const port = await freePort();
    await b.must(["ports", "map", String(port), "--transport", "tcp", "--destination", DOMAIN, "--port", String(allocated)]);
    await waitFor(async () => (await redis(port, "PING")) === "PONG", "the new mapping answering", 10_000, 100);
  }, 30_000);
});

describe("mesh while socks.enabled is false", () => {
  test("mesh streams are refused with 0x02 and no SOCKS port is opened", async () => {
    const off = await startServer({ enabled: false });
    expect(off.log()).not.toContain("SOCKS5 on");
    expect(await canConnect(off.socks)).toBe(false);

    const owner = await configureClient(off);
    await owner.must(["tunnel", "http", "add", "--domain", `app.${DOMAIN}`, "--http", String(appPort)]);
    await owner.start();
    const c = await configureClient(off);
    const socksPort = await freePort();
    await c.must(["proxies", "socks", "listen", String(socksPort)]);
    await c.start();
    await c.waitForLog(`SOCKS5 proxy on 127.0.0.1:${socksPort}`);
    const raw = await connectRaw(socksPort);
    expect(await socksRequest(raw, { host: `app.${DOMAIN}`, port: 80 })).toEqual({ stage: "reply", code: 0x02 });
    await waitFor(() => off.log().includes("socks.enabled"), "the refusal in the server log");
  }, 60_000);
});
