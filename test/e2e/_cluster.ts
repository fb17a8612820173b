// End-to-end harness for cluster mode: a private PostgreSQL (test/postgres-cluster.ts,
// stopped by test/preload.ts at the end of the run) and three real `dist/spokes` nodes
// sharing it, each with its own data directory, ports and loopback address (127.0.0.1,
// .2, .3: every node listens on every forwarded tunnel port, so on one machine they need
// an address each), the same cluster.secret, and `cluster.advertise` = its HTTPS port.
// Clients are real `dist/pktriot` processes pointed at one node or at several (failover).
// Every process is tracked by _tunnel-harness.ts and killed by PID in stopAll().
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { SPOKES_BIN, freePort, randomPortRange, run, type RunResult } from "../helpers.ts";
import { startPostgres, type PostgresCluster } from "../postgres-cluster.ts";
import { DOMAIN, configureClient, runAsync, startServer, type TestClient, type TestServer } from "./_tunnel-harness.ts";

export { DOMAIN };

export interface ClusterNode extends TestServer {
  /** `cluster.nodeId`: "a", "b", "c". */
  nodeId: string;
  /** `address:httpsPort`: what clients and peers dial. */
  hostPort: string;
}

export interface TestCluster {
  pg: PostgresCluster;
  databaseUrl: string;
  secret: string;
  portRange: { begin: number; end: number };
  nodes: ClusterNode[];
  a: ClusterNode;
  b: ClusterNode;
  c: ClusterNode;
}

export interface ClusterOptions {
  /** Merged into every node's config file. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
}

let databases = 0;

/** Starts one node of `cluster` (the first one also migrates the database and makes the shared certificate). */
async function startNode(nodeId: string, address: string, shared: { databaseUrl: string; secret: string; portRange: { begin: number; end: number } }, opts: ClusterOptions): Promise<ClusterNode> {
  const [http, https] = [await freePort(), await freePort()];
  const server = await startServer({
    ports: { http, https },
    env: opts.env,
    startTimeoutMs: 30_000,
    config: {
      portRange: shared.portRange,
      database: { url: shared.databaseUrl },
      // The mesh (ports map) needs the SOCKS resolver; no public SOCKS port.
      socks: { enabled: true, port: 0, tlsPort: 0 },
      ...opts.config,
      cluster: { nodeId, advertise: `${address}:${https}`, secret: shared.secret, ...(opts.config?.cluster as object | undefined) },
      listen: { address, ...(opts.config?.listen as object | undefined) },
    },
  });
  return Object.assign(server, { nodeId, hostPort: `${address}:${https}` });
}

/** PostgreSQL, then node a (migrations, shared certificate), then b and c side by side. */
export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const pg = await startPostgres();
  const databaseUrl = await pg.createDatabase(`cluster_${process.pid}_${++databases}`);
  const shared = { databaseUrl, secret: randomBytes(24).toString("base64url"), portRange: randomPortRange() };
  const a = await startNode("a", "127.0.0.1", shared, opts);
  const [b, c] = await Promise.all([startNode("b", "127.0.0.2", shared, opts), startNode("c", "127.0.0.3", shared, opts)]);
  return { pg, ...shared, nodes: [a, b, c], a, b, c };
}

/** `--hostname` for a client that tries these nodes in this order. */
export const serversOf = (...nodes: ClusterNode[]) => nodes.map((n) => n.hostPort).join(",");

/**
 * A client configured against `nodes` (the first one registers it; the others are its
 * failover addresses), trusting the first node's certificate file: every node presents
 * the cluster's one certificate, so that trust holds on all of them.
 */
export function configureClusterClient(nodes: ClusterNode[], opts: { key?: string } = {}): Promise<TestClient> {
  return configureClient(nodes[0]!, { hostname: serversOf(...nodes), key: opts.key });
}

/** Resident memory of a process (or its peak with "VmHWM"), KiB. */
export const rssKiB = (pid: number, field = "VmRSS") => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

/**
 * The HTTP status a peer-link upgrade at `node` gets with `secret` as the cluster secret
 * (101 admitted, 403 refused). curl keeps an admitted link open: it is cut after 3 s.
 */
export async function peerLinkStatus(node: ClusterNode, secret: string, nodeId = "intruder"): Promise<number> {
  const r = await runAsync([
    "curl", "-sk", "--http1.1", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
    "-H", "Connection: Upgrade", "-H", "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13",
    "-H", `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
    "-H", `Authorization: Bearer ${secret}`, "-H", `X-Spokes-Node: ${nodeId}`,
    `https://${node.hostPort}/api/client/v1/cluster/peer`,
  ]);
  return Number(r.stdout.trim());
}

/** `spokes users add` (admin) with the password on stdin. */
export function addAdmin(node: ClusterNode, email: string, password: string): RunResult {
  return run(SPOKES_BIN, ["users", "add", "--email", email, "--fullname", "Admin", "--password-stdin", "--config", node.configPath], { stdin: `${password}\n` });
}

/**
 * Signs in to the dashboard of `node` (GET /login for the CSRF pair, POST /login);
 * returns the session cookie (`name=value`).
 */
export async function dashboardLogin(node: ClusterNode, email: string, password: string): Promise<string> {
  const base = `https://${DOMAIN}:${node.httpsPort}`;
  const resolve = ["--resolve", `${DOMAIN}:${node.httpsPort}:${node.address}`, "--cacert", node.caPath];
  const page = await runAsync(["curl", "-sS", "-i", ...resolve, `${base}/login`]);
  const csrf = page.stdout.match(/name="_csrf" value="([^"]+)"/)?.[1];
  const prelogin = cookiesOf(page.stdout);
  if (!csrf || !prelogin) throw new Error(`GET /login at node ${node.nodeId}: no CSRF form/cookie:\n${page.stdout.slice(0, 500)}`);
  const form = new URLSearchParams({ _csrf: csrf, email, password }).toString();
  const r = await runAsync(["curl", "-sS", "-i", ...resolve, "-H", `Cookie: ${prelogin}`, "-H", `Origin: ${base}`, "--data", form, `${base}/login`]);
  const session = cookiesOf(r.stdout).split("; ").find((c) => c.startsWith("spokes_session=") && !c.endsWith("="));
  if (!session) throw new Error(`POST /login at node ${node.nodeId}: no session cookie:\n${r.stdout.slice(0, 500)}`);
  return session;
}

/** `name=value` pairs of every Set-Cookie header in a `curl -i` response. */
function cookiesOf(response: string): string {
  return [...response.matchAll(/^set-cookie:\s*([^;\r\n]+)/gim)].map((m) => m[1]!).join("; ");
}

/** A dashboard page at `node` with a session cookie: status and body. */
export async function dashboardPage(node: ClusterNode, cookie: string, path: string): Promise<{ status: number; body: string }> {
  const r = await runAsync([
    "curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--resolve", `${DOMAIN}:${node.httpsPort}:${node.address}`, "--cacert", node.caPath,
    "-H", `Cookie: ${cookie}`, `https://${DOMAIN}:${node.httpsPort}${path}`,
  ]);
  const i = r.stdout.lastIndexOf("\n");
  return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

/** POSTs a dashboard form at `node` with the session's CSRF token (read from `formPage`); returns status and Location. */
export async function dashboardPost(node: ClusterNode, cookie: string, formPage: string, path: string, fields: Record<string, string>): Promise<{ status: number; location: string }> {
  const page = await dashboardPage(node, cookie, formPage);
  const csrf = page.body.match(/name="_csrf" value="([^"]+)"/)?.[1];
  if (!csrf) throw new Error(`no CSRF token on ${formPage} at node ${node.nodeId} (${page.status})`);
  const base = `https://${DOMAIN}:${node.httpsPort}`;
  const data = Object.entries({ ...fields, _csrf: csrf }).flatMap(([k, v]) => ["--data-urlencode", `${k}=${v}`]);
  const r = await runAsync([
    "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "--resolve", `${DOMAIN}:${node.httpsPort}:${node.address}`, "--cacert", node.caPath,
    "-H", `Cookie: ${cookie}`, "-H", `Origin: ${base}`, ...data, `${base}${path}`,
  ]);
  const [status, location = ""] = r.stdout.trim().split(" ");
  return { status: Number(status), location };
}
