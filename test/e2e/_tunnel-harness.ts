// End-to-end harness for the tunnel engine: runs the real dist/spokes and dist/pktriot
// with allocated ports (as frp's e2e framework renders its config templates), waits for
// readiness by log line or TCP connect (never a fixed sleep), and talks to them with
// curl, fetch, WebSocket and raw sockets. Upstream services live in the test process.
// Every process started here is tracked and killed by PID when the test file ends.
import { setDefaultTimeout } from "bun:test";
import type { Subprocess } from "bun";
import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server as NetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PKTRIOT_BIN, SPOKES_BIN, freePort, randomPortRange, run, tempDir, track, waitFor, type RunResult } from "../helpers.ts";

// Starting real processes takes longer than bun's 5 s default allows on a busy machine.
setDefaultTimeout(30_000);

if (!existsSync(SPOKES_BIN) || !existsSync(PKTRIOT_BIN)) throw new Error("dist/ executables are missing: run `bun scripts/build.ts` first");

export const DOMAIN = "spokes.test";

const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: process.env.HOME ?? "/root",
  TMPDIR: tmpdir(),
  TZ: "UTC",
  NO_COLOR: "1",
});

// ---- processes with a log ----------------------------------------------------------------

/** The combined stdout + stderr of a running process, kept in memory. */
export class ProcessLog {
  text = "";
  /** Waits for `pattern` to appear after character offset `from`; returns the match. */
  async waitFor(pattern: RegExp | string, opts: { from?: number; timeoutMs?: number; proc?: Subprocess } = {}): Promise<string> {
    const from = opts.from ?? 0;
    return waitFor(
      () => {
        const rest = this.text.slice(from);
        const m = typeof pattern === "string" ? (rest.includes(pattern) ? pattern : null) : rest.match(pattern)?.[0];
        if (m) return m;
        if (opts.proc && opts.proc.exitCode !== null) throw new Error(`process exited (${opts.proc.exitCode}) before ${pattern}:\n${this.text}`);
        return null;
      },
      `${pattern} in the log:\n${this.text.slice(-2000)}`,
      opts.timeoutMs ?? 15_000,
      25,
    );
  }
}

/** Processes of the current test file (helpers' track() alone only cleans up after the first file). */
const processes = new Set<Subprocess>();

export function spawnLogged(cmd: string[], env: Record<string, string> = {}): { proc: Subprocess<"ignore", "pipe", "pipe">; log: ProcessLog } {
  const proc = track(Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...baseEnv(), ...env } }));
  processes.add(proc);
  const log = new ProcessLog();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) log.text += dec.decode(chunk, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return { proc, log };
}

/** SIGKILL by PID and wait for the exit. */
async function kill9(proc: Subprocess): Promise<void> {
  try {
    process.kill(proc.pid, "SIGKILL");
  } catch {}
  await proc.exited;
}

// ---- the server --------------------------------------------------------------------------

export interface TestServer {
  dir: string;
  configPath: string;
  /** The address every listener binds (`listen.address`; 127.0.0.1 unless the config says otherwise). */
  address: string;
  httpPort: number;
  httpsPort: number;
  /** The self-signed certificate the server generated (clients trust it with --ca). */
  caPath: string;
  portRange: { begin: number; end: number };
  proc: Subprocess;
  log: ProcessLog;
  /** `spokes <args> --config <config>`, synchronously (only for commands that do not talk to this process's upstreams). */
  cli(args: string[]): RunResult;
  /** Like cli, JSON-parsed stdout; throws on a non-zero exit. */
  json<T = unknown>(args: string[]): T;
  /** A new auth token (and its tunnel). */
  createToken(): { key: string; tunnelId: string };
  /** The tunnel row of `spokes tunnel ls --json --all`. */
  tunnel(id: string): TunnelRow | undefined;
  kill9(): Promise<void>;
  /** Starts the server again on the same ports, database and certificate. */
  restart(): Promise<void>;
}

export interface TunnelRow {
  id: string;
  userID: string;
  state: number;
  online: boolean;
  user: string;
  hostname: string;
  address: string;
  os: string;
  arch: string;
  version: string;
}

export interface ServerOptions {
  /** Merged into the config file. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** The public HTTP and HTTPS ports, when they must be known before the start (an ACME CA validates on the HTTP one). */
  ports?: { http: number; https: number };
  /** How long a (re)start may take to log "serving" (default 15 s). */
  startTimeoutMs?: number;
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dir = tempDir("spokes-e2e-");
  const [httpPort, httpsPort] = opts.ports ? [opts.ports.http, opts.ports.https] : [await freePort(), await freePort()];
  const portRange = randomPortRange();
  const configPath = join(dir, "config.json");
  const address = (opts.config?.listen as { address?: string } | undefined)?.address ?? "127.0.0.1";
  writeFileSync(
    configPath,
    JSON.stringify({
      domain: DOMAIN,
      dataPath: dir,
      portRange,
      tls: { selfSigned: true },
      ...opts.config,
      // Extra listen fields (listen.tunnel) merge with the harness's own ports.
      listen: { address: "127.0.0.1", http: httpPort, https: httpsPort, ...(opts.config?.listen as object | undefined) },
    }),
  );
  const launch = async () => {
    const { proc, log } = spawnLogged([SPOKES_BIN, "serve", "--config", configPath], opts.env);
    await log.waitFor(`serving ${DOMAIN}: http ${address}:${httpPort}, https ${address}:${httpsPort}`, { proc, timeoutMs: opts.startTimeoutMs });
    return { proc, log };
  };
  const first = await launch();
  const cli = (args: string[]) => run(SPOKES_BIN, [...args, "--config", configPath]);
  const server: TestServer = {
    dir,
    configPath,
    address,
    httpPort,
    httpsPort,
    caPath: join(dir, "tls", "self-signed.crt"),
    portRange,
    proc: first.proc,
    log: first.log,
    cli,
    json<T>(args: string[]): T {
      const r = cli(args);
      if (r.code !== 0) throw new Error(`spokes ${args.join(" ")}: exit ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    createToken() {
      const r = cli(["token", "create"]);
      if (r.code !== 0) throw new Error(`token create: ${r.stderr}`);
      const key = r.stdout.trim().split("\n").at(-1)!.trim();
      const row = server.json<{ value: string; tunnel: string }[]>(["token", "ls", "--json"]).find((t) => t.value === key);
      return { key, tunnelId: row!.tunnel };
    },
    tunnel(id) {
      return server.json<TunnelRow[]>(["tunnel", "ls", "--json", "--all"]).find((t) => t.id === id);
    },
    async kill9() {
      await kill9(server.proc);
    },
    async restart() {
      const next = await launch();
      server.proc = next.proc;
      server.log = next.log;
    },
  };
  return server;
}

// ---- clients -----------------------------------------------------------------------------

export interface TestClient {
  dir: string;
  configPath: string;
  tunnelId: string;
  proc?: Subprocess;
  log: ProcessLog;
  /** `pktriot --config <config> <args>`; async, since upstreams live in this process. */
  cli(args: string[]): Promise<RunResult>;
  /** Runs `pktriot start` and waits until the tunnel is online. */
  start(env?: Record<string, string>): Promise<void>;
  /** `tunnel tcp allocate`, returning the port. */
  allocatePort(): Promise<number>;
  kill9(): Promise<void>;
}

/** Where a server listens; 127.0.0.1 for the partial servers some tests describe by hand. */
const addressOf = (server: Pick<TestServer, "address">) => server.address || "127.0.0.1";

/** Runs an executable without blocking this process's event loop. */
export async function runAsync(cmd: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...baseEnv(), ...opts.env } });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Configures a client with `--key` (a new token by default) or `--registration` (+ `--id`). */
export async function configureClient(
  server: TestServer,
  opts: {
    key?: string;
    registration?: string;
    id?: string;
    port?: number;
    /** `--hostname` as given (several cluster nodes: `a:p,b:p`); default the server's address and HTTPS port. */
    hostname?: string;
  } = {},
): Promise<TestClient> {
  const dir = tempDir("pktriot-e2e-");
  const configPath = join(dir, "client.json");
  const auth = opts.registration ? ["--registration", opts.registration, ...(opts.id ? ["--id", opts.id] : [])] : ["--key", opts.key ?? server.createToken().key];
  const cli = (args: string[]) => runAsync([PKTRIOT_BIN, "--config", configPath, ...args]);
  const r = await runAsync([PKTRIOT_BIN, "unmanaged", "configure", "--config", configPath, "--hostname", opts.hostname ?? `${addressOf(server)}:${opts.port ?? server.httpsPort}`, ...auth, "--ca", server.caPath]);
  if (r.code !== 0) throw new Error(`pktriot unmanaged configure: exit ${r.code}: ${r.stderr}${r.stdout}`);
  const tunnelId = r.stdout.match(/Tunnel ID: ([0-9a-f]{32})/)![1]!;
  const client: TestClient = {
    dir,
    configPath,
    tunnelId,
    log: new ProcessLog(),
    cli,
    async start(env = {}) {
      const { proc, log } = spawnLogged([PKTRIOT_BIN, "--config", configPath, "start"], env);
      client.proc = proc;
      client.log = log;
      await log.waitFor(`tunnel ${tunnelId} online`, { proc });
    },
    async allocatePort() {
      const a = await cli(["tunnel", "tcp", "allocate"]);
      const m = a.stdout.match(/Allocated port (\d+)/);
      if (a.code !== 0 || !m) throw new Error(`tcp allocate: exit ${a.code}: ${a.stderr}${a.stdout}`);
      return Number(m[1]);
    },
    async kill9() {
      if (client.proc) await kill9(client.proc);
    },
  };
  return client;
}

/** Runs a pktriot rule command and fails loudly when it does. */
export async function mustRun(client: TestClient, args: string[]): Promise<string> {
  const r = await client.cli(args);
  if (r.code !== 0) throw new Error(`pktriot ${args.join(" ")}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- requests ----------------------------------------------------------------------------

export interface CurlResponse {
  status: number;
  headers: Headers;
  body: string;
  /** curl's own exit code (0 when a response came back). */
  exit: number;
  stderr: string;
}

/**
 * curl through the server: `http://<address>:<http>` with a Host header, or
 * `https://<host>:<https>` resolved to the server's address and verified with `ca`.
 */
export async function curl(
  server: TestServer,
  host: string,
  path = "/",
  opts: { https?: boolean; ca?: string; args?: string[]; after?: string[]; timeoutMs?: number } = {},
): Promise<CurlResponse> {
  const target = opts.https
    ? ["--cacert", opts.ca ?? server.caPath, "--resolve", `${host}:${server.httpsPort}:${addressOf(server)}`, `https://${host}:${server.httpsPort}${path}`]
    : ["-H", `Host: ${host}`, `http://${addressOf(server)}:${server.httpPort}${path}`];
  const maxTime = Math.ceil((opts.timeoutMs ?? 20_000) / 1000);
  const r = await runAsync(["curl", "-sS", "-i", "--max-time", String(maxTime), ...(opts.args ?? []), ...target, ...(opts.after ?? [])], { timeoutMs: (maxTime + 5) * 1000 });
  return parseCurl(r);
}

function parseCurl(r: RunResult): CurlResponse {
  let rest = r.stdout;
  let status = 0;
  const headers = new Headers();
  // Skip interim responses (100 Continue) to the final one.
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (!rest.startsWith("HTTP/") || end < 0) break;
    const lines = rest.slice(0, end).split("\r\n");
    status = Number(lines[0]!.split(" ")[1]);
    rest = rest.slice(end + 4);
    if (status >= 100 && status < 200) continue;
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
    }
    break;
  }
  return { status, headers, body: rest, exit: r.code, stderr: r.stderr };
}

// ---- upstream services in the test process -----------------------------------------------

const servers: { stop(): void }[] = [];
/** Kills every server and client of the file by PID and stops its upstreams (call from afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...processes].map((p) => kill9(p)));
  processes.clear();
  for (const s of servers.splice(0)) {
    try {
      s.stop();
    } catch {}
  }
}

/** A Bun.serve upstream on 127.0.0.1 with a free port. */
export function httpUpstream(options: Omit<Parameters<typeof Bun.serve>[0], "port" | "hostname">): ReturnType<typeof Bun.serve> {
  const s = Bun.serve({ ...(options as object), hostname: "127.0.0.1", port: 0 } as Parameters<typeof Bun.serve>[0]);
  servers.push({ stop: () => s.stop(true) });
  return s;
}

/** A TCP upstream on 127.0.0.1 (node:net, whose pipe() respects backpressure). */
export async function tcpUpstream(onConnection: (socket: Socket) => void): Promise<{ port: number; server: NetServer }> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  servers.push({
    stop() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  });
  return { port: (server.address() as { port: number }).port, server };
}

/** Echo: every byte back, end after end. */
export const echoUpstream = () => tcpUpstream((s) => s.pipe(s));

/**
 * Sends `data` to `host`:`port`, half-closes, and reads until the peer ends.
 * Returns the byte count and sha256 of what came back.
 */
export function tcpExchange(port: number, data: Uint8Array, timeoutMs = 60_000, host = "127.0.0.1"): Promise<{ bytes: number; sha256: string; received: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, allowHalfOpen: true });
    const hash = createHash("sha256");
    const chunks: Buffer[] = [];
    let bytes = 0;
    const keep = data.length <= 4 * 1024 * 1024;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`tcp exchange on ${port}: timed out after ${bytes} of ${data.length} bytes`));
    }, timeoutMs);
    sock.on("connect", () => {
      sock.write(data);
      sock.end();
    });
    sock.on("data", (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
      if (keep) chunks.push(c);
    });
    sock.on("end", () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ bytes, sha256: hash.digest("hex"), received: Buffer.concat(chunks) });
    });
    sock.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

/** True once a TCP connect to `host`:`port` succeeds (listener up). */
export function canConnect(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.on("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** Waits until `fn` resolves with an HTTP status equal to `status` (a route coming online). */
export async function waitForStatus(fn: () => Promise<CurlResponse>, status: number, what: string, timeoutMs = 15_000): Promise<CurlResponse> {
  let last: CurlResponse | undefined;
  try {
    return await waitFor(async () => {
      last = await fn();
      return last.status === status ? last : null;
    }, what, timeoutMs, 100);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last: ${last?.status} ${last?.body.slice(0, 200)} ${last?.stderr}`);
  }
}
