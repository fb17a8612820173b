// The cluster's shared state through the real dist/spokes: two nodes in cluster mode on one
// private PostgreSQL database publish heartbeats (`spokes cluster ls`), a tunnel's location
// names its node in `tunnel ls`, an Admin API page set and a dashboard login made through
// one node work through the other, a node killed with -9 has its tunnel marked offline by
// the survivor within the dead-node window, `clean --check` / `clean` find and fix the
// cluster inconsistencies, and cluster mode on SQLite is refused in one line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { openDatabase, type OpenDatabase } from "../../db/client.ts";
import { createClusterStore } from "../../db/queries/cluster.ts";
import { TUNNEL_STATE } from "../../db/schema.ts";
import { insertHeartbeat, insertTunnel } from "../db-fixtures.ts";
import { freePort, spokes, tempDir, waitFor } from "../helpers.ts";
import { startPostgres, type PostgresCluster } from "../postgres-cluster.ts";
import { AdminApiClient } from "./_admin-api-client.ts";
import { configureClient, startServer, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";

const SECRET = "e2e-cluster-secret-0123456789";
let pg: PostgresCluster;
let url: string;
let a: TestServer;
let b: TestServer;
let client: TestClient;
let db: OpenDatabase;

async function node(nodeId: string): Promise<TestServer> {
  const ports = { http: await freePort(), https: await freePort() };
  return startServer({ ports, config: { database: { url }, cluster: { nodeId, advertise: `127.0.0.1:${ports.https}`, secret: SECRET } } });
}

interface NodeJson {
  nodeId: string;
  advertise: string;
  fingerprint: string;
  heartbeatAge: number | null;
  live: boolean;
  tunnels: number;
}

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase("spokes");
  [a, b] = [await node("node-a"), await node("node-b")];
  db = await openDatabase({ url });
  client = await configureClient(a);
  await client.start();
}, 120_000);

afterAll(async () => {
  db?.close();
  await stopAll();
  pg?.stop();
});

describe("two cluster nodes on one PostgreSQL database", () => {
  test("cluster ls (from either node's config): both live, advertise, fingerprint, heartbeat age, tunnels held", async () => {
    const nodes = await waitFor(() => {
      const list = b.json<NodeJson[]>(["cluster", "ls", "--json"]);
      return list.find((n) => n.nodeId === "node-a")?.tunnels === 1 ? list : undefined;
    }, "node-a holding the tunnel");
    expect(nodes.map((n) => [n.nodeId, n.advertise, n.live, n.tunnels])).toEqual([
      ["node-a", `127.0.0.1:${a.httpsPort}`, true, 1],
      ["node-b", `127.0.0.1:${b.httpsPort}`, true, 0],
    ]);
    for (const n of nodes) {
      expect(n.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(n.heartbeatAge!).toBeLessThan(5); // every 2 s
    }
    const table = a.cli(["cluster", "ls"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/\| Node +\| Advertise +\| Heartbeat +\| Live +\| Tunnels +\| Started +\|/);
    expect(table.stdout).toMatch(/\| node-a +\| 127\.0\.0\.1:\d+ +\| \d+\.\d s ago +\| true +\| 1 /);
    expect(table.stdout.trim().split("\n").at(-1)).toBe("2 nodes");
  });

  test("tunnel ls on the other node names the node holding the tunnel (table and --json)", () => {
    const row = b.json<{ id: string; online: boolean; node: string }[]>(["tunnel", "ls", "--json"]).find((t) => t.id === client.tunnelId);
    expect(row).toMatchObject({ online: true, node: "node-a" });
    const table = b.cli(["tunnel", "ls"]);
    expect(table.stdout).toMatch(/\| Address +\| Node +\| Uptime/);
    expect(table.stdout).toContain("| node-a ");
  });

  test("an Admin API page set listed through node A is fetched through node B, with A's session", async () => {
    for (let i = 0; i < 60; i++) await insertTunnel(db.db, { state: TUNNEL_STATE.offline });
    const key = a.cli(["apikey", "create", "--description", "cluster"]).stdout.trim().split("\n").at(-1)!.trim();
    const viaA = new AdminApiClient(() => a.httpsPort);
    expect((await viaA.post("auth", { key })).json.status).toBe(true);
    const list = await viaA.get("tunnel/list");
    expect(list.json.links.length).toBe(2);
    const viaB = new AdminApiClient(() => b.httpsPort);
    viaB.cookie = viaA.cookie; // the API session lives in the database too
    const page = await viaB.get(`tunnel/page/${list.json.links[1].uid}`);
    expect(page.status).toBe(200);
    expect(page.json.tunnels.length).toBe(list.json.total - 50);
    expect((await new AdminApiClient(() => b.httpsPort).get(`tunnel/page/${list.json.links[1].uid}`)).status).toBe(401);
  });

  test("a dashboard login through node B is a session on node A", async () => {
    const r = spokes(["users", "add", "--email", "admin@example.com", "--fullname", "Admin", "--password-stdin", "--config", a.configPath], { stdin: "correct horse battery\n" });
    expect(r.code).toBe(0);
    const jar = join(tempDir(), "cookies");
    const curl = (server: TestServer, path: string, form?: Record<string, string>) => {
      const args = ["curl", "-sk", "-o", "-", "-w", "\n%{http_code}", "-c", jar, "-b", jar, "--resolve", `spokes.test:${server.httpsPort}:127.0.0.1`];
      if (form) for (const [k, v] of Object.entries(form)) args.push("--data-urlencode", `${k}=${v}`);
      const out = Bun.spawnSync([...args, `https://spokes.test:${server.httpsPort}${path}`], { stdout: "pipe", timeout: 10_000 }).stdout.toString();
      const status = Number(out.slice(out.lastIndexOf("\n") + 1));
      return { status, body: out.slice(0, out.lastIndexOf("\n")) };
    };
    const form = curl(a, "/login");
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.body)![1]!;
    expect(curl(b, "/login", { _csrf: csrf, email: "admin@example.com", password: "correct horse battery" }).status).toBe(303);
    const home = curl(a, "/");
    expect(home.status).toBe(200);
    expect(home.body).toContain("Signed in as admin@example.com");
  });

  test("node A killed with -9: node B marks its tunnel offline and drops its location within the dead-node window", async () => {
    await a.kill9();
    const killed = Date.now();
    await waitFor(() => b.json<{ id: string; online: boolean }[]>(["tunnel", "ls", "--json"]).find((t) => t.id === client.tunnelId)?.online === false, "the tunnel offline", 20_000, 250);
    const took = Date.now() - killed;
    expect(took).toBeLessThan(15_000); // dead after 10 s without a heartbeat, swept every 2 s
    const nodes = b.json<NodeJson[]>(["cluster", "ls", "--json"]);
    expect(nodes.find((n) => n.nodeId === "node-a")).toMatchObject({ live: false, tunnels: 0 });
    await b.log.waitFor(/cluster: 1 tunnel\(s\) of node\(s\) without a heartbeat for 10 s marked offline/, { timeoutMs: 5_000 });
    console.log(`survivor marked the dead node's tunnel offline ${(took / 1000).toFixed(1)} s after kill -9`);
  }, 30_000);
});

describe("clean across the cluster", () => {
  test("--check lists dead-node locations, locations of deleted tunnels and online tunnels without a location; clean fixes them", async () => {
    await stopAll(); // a quiet database: no node sweeps behind the CLI's back
    const store = createClusterStore(db.db);
    const loc = (tunnelId: string, nodeId: string) => ({ tunnelId, nodeId, epoch: "e", userId: null, hostname: "", https: [], ports: [] });
    await insertHeartbeat(db.db, "node-live", new Date());
    const onDead = await insertTunnel(db.db, { state: TUNNEL_STATE.online, serverNode: "node-gone" });
    await store.saveLocation(loc(onDead, "node-gone"));
    const deleted = await insertTunnel(db.db, { state: TUNNEL_STATE.deleted, token: "none" });
    await store.saveLocation(loc(deleted, "node-live"));
    const unlocated = await insertTunnel(db.db, { state: TUNNEL_STATE.online, serverNode: "node-live", connectedAt: new Date(Date.now() - 60_000) });

    const check = a.cli(["clean", "--check"]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`tunnel ${onDead} is located on node node-gone, which has no heartbeat in the last 10 s: remove the location, mark offline`);
    expect(check.stdout).toContain(`node node-live holds a location of deleted tunnel ${deleted}: remove`);
    expect(check.stdout).toContain(`tunnel ${unlocated} is marked online but no cluster node holds its connection: mark offline`);
    expect(check.stdout).toMatch(/Issues Found \(tunnels \+ ports\): \d+/);
    const found = Number(/Issues Found \(tunnels \+ ports\): (\d+)/.exec(check.stdout)![1]);

    const fix = a.cli(["clean"]);
    expect(fix.code).toBe(0);
    expect(fix.stdout.trim()).toBe(`Issues Fixed (tunnels + ports): ${found}`);
    const again = a.cli(["clean", "--check"]);
    expect([again.code, again.stdout.trim().split("\n").at(-1)]).toEqual([0, "Issues Found (tunnels + ports): 0"]);
    expect((await store.locationStamps()).map((s) => s.tunnelId)).toEqual([]);
  });
});

test("cluster mode on SQLite is refused with one line", () => {
  const dir = tempDir();
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ domain: "spokes.test", dataPath: dir, tls: { selfSigned: true }, cluster: { advertise: "127.0.0.1:8443", secret: SECRET } }));
  for (const args of [["serve"], ["cluster", "ls"]]) {
    const r = spokes([...args, "--config", config]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "error: config cluster.secret is set (cluster mode) but the database is SQLite: a cluster needs a shared PostgreSQL database (database.url postgres://...)",
    );
  }
});
