// Cluster mode end to end (issue 10 "Tests"): PostgreSQL and three real spokes nodes
// (a, b, c on 127.0.0.1/.2/.3), real pktriot clients. A client held by node b is reached
// over HTTP, HTTPS (terminated at a, and passed through by SNI) and TCP through node a
// (and c); a client on c maps a port to a service behind b's client; admins see one state from every node (cluster ls, tunnel ls, Admin
// API session and page sets, dashboard session); a peer link with a wrong secret is
// refused; remote management (rule edits, config reads) made at one node reaches
// the client held by another; 1 GiB goes through a peer hop beside a never-reading visitor with the nodes'
// memory bounded; finally node b is killed with SIGKILL and its client (configured with
// two server addresses) is back at node a within 10 s, routed from every live node, with
// no token, tunnel or port allocation lost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { firehoseUpstream, sinkUpstream, upload } from "./_bulk-upload.ts";
import { join } from "node:path";
import { openDatabase } from "../../db/client.ts";
import { insertTunnel } from "../db-fixtures.ts";
import { freePort, tempDir, waitFor } from "../helpers.ts";
import { generateSelfSigned } from "../../lib/tls/certificates.ts";
import { AdminApiClient } from "./_admin-api-client.ts";
import { socksRequest } from "./_socks-client.ts";
import { connectRaw } from "../unit/socks/raw-client.ts";
import {
  DOMAIN,
  addAdmin,
  configureClusterClient,
  dashboardLogin,
  dashboardPage,
  dashboardPost,
  peerLinkStatus,
  rssKiB,
  startCluster,
  type ClusterNode,
  type TestCluster,
} from "./_cluster.ts";
import { curl, echoUpstream, httpUpstream, mustRun, runAsync, sha256, stopAll, tcpExchange, waitForStatus, type TestClient } from "./_tunnel-harness.ts";

const SITE = `app.${DOMAIN}`;
/** A `--tls` pass-through rule: its upstream terminates with a certificate of its own. */
const PASS = `pass.${DOMAIN}`;
let passCaPath: string;

let cl: TestCluster;
/** Held by node b; node a is its second address. */
let onB: TestClient;
/** Held by node c; maps a local port to onB's echo port through the mesh. */
let onC: TestClient;
let echoPort: number;
/** The HTTP upstream behind onB's client. */
let webPort: number;
let firehosePort: number;
let sinkPort: number;
let mapPort: number;
/** An Admin API session made at node a (its cookie works on every node). */
let adminApi: AdminApiClient;
/** The dashboard session of the admin, made at node a. */
let adminCookie = "";
let firehoseWritten = 0;
let sinkReceived = 0;

/** The public SOCKS5 port, the same number on every node (each has its own address). */
let socksPort: number;

beforeAll(async () => {
  socksPort = await freePort();
  cl = await startCluster({ config: { socks: { enabled: true, port: socksPort, tlsPort: 0 } } });
  const web = httpUpstream({ fetch: (req) => new Response(`hello from behind b: ${new URL(req.url).pathname}`) });
  webPort = web.port!;
  const echo = await echoUpstream();
  const passCert = await generateSelfSigned(PASS);
  passCaPath = join(tempDir("cluster-pass-"), "pass.crt");
  writeFileSync(passCaPath, passCert.certPem);
  const passUpstream = httpUpstream({ tls: { cert: passCert.certPem, key: passCert.keyPem }, fetch: () => new Response("tls passed through to b's upstream") });
  const firehose = await firehoseUpstream((n) => (firehoseWritten += n));
  const sink = await sinkUpstream((n) => (sinkReceived += n));

  onB = await configureClusterClient([cl.b, cl.a]);
  await mustRun(onB, ["tunnel", "http", "add", "--domain", SITE, "--http", String(web.port)]);
  await mustRun(onB, ["tunnel", "http", "add", "--domain", PASS, "--tls", String(passUpstream.port)]);
  echoPort = await onB.allocatePort();
  firehosePort = await onB.allocatePort();
  sinkPort = await onB.allocatePort();
  for (const [port, upstream] of [[echoPort, echo.port], [firehosePort, firehose.port], [sinkPort, sink.port]] as const) {
    await mustRun(onB, ["tunnel", "tcp", "forward", "--port", String(port), "--destination", "127.0.0.1", "--dstport", String(upstream)]);
  }
  // Default backoff and keepalive: the 10 s failover is the product's, not a test hook's.
  await onB.start();

  onC = await configureClusterClient([cl.c]);
  mapPort = await freePort();
  await mustRun(onC, ["ports", "map", String(mapPort), "--transport", "tcp", "--destination", "echo.mesh", "--port", String(echoPort)]);
  await onC.start();
}, 120_000);

afterAll(stopAll);

interface TunnelJson {
  id: string;
  online: boolean;
  node?: string;
}
const tunnelAt = (node: ClusterNode, id: string) => node.json<TunnelJson[]>(["tunnel", "ls", "--json", "--all"]).find((t) => t.id === id);

/** Sends a few bytes to `host:port` and expects them back (an echo behind some tunnel). */
async function echoes(port: number, host: string): Promise<boolean> {
  const data = new TextEncoder().encode(`ping ${host}:${port} ${Math.random()}`);
  try {
    const r = await tcpExchange(port, data, 5_000, host);
    return r.sha256 === sha256(data);
  } catch {
    return false;
  }
}

const routedHttp = (node: ClusterNode, path: string) => waitForStatus(() => curl(node, SITE, path, { timeoutMs: 5_000 }), 200, `${SITE} through node ${node.nodeId}`);

describe("one server to admins", () => {
  test("spokes cluster ls on any node lists the three nodes with fresh heartbeats and the tunnels they hold", async () => {
    for (const node of cl.nodes) {
      const rows = await waitFor(() => {
        const r = node.json<{ nodeId: string; tunnels: number; live: boolean; heartbeatAge: number; advertise: string; fingerprint: string }[]>(["cluster", "ls", "--json"]);
        return r.length === 3 && r.find((n) => n.nodeId === "b")?.tunnels === 1 && r.find((n) => n.nodeId === "c")?.tunnels === 1 ? r : null;
      }, `three nodes in cluster ls at ${node.nodeId}`);
      expect(rows.map((n) => n.nodeId).sort()).toEqual(["a", "b", "c"]);
      expect(rows.find((n) => n.nodeId === "a")?.tunnels).toBe(0);
      for (const n of rows) {
        expect(n.live).toBe(true);
        expect(n.heartbeatAge).toBeLessThan(10);
        expect(n.advertise).toBe(cl.nodes.find((x) => x.nodeId === n.nodeId)!.hostPort);
      }
      // One certificate for the cluster: every node publishes the same fingerprint.
      expect(new Set(rows.map((n) => n.fingerprint)).size).toBe(1);
      expect(rows[0]!.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    const table = cl.a.cli(["cluster", "ls"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/\| b +\| /);
    expect(table.stdout).toContain(cl.b.hostPort);
  });

  test("tunnel ls on every node shows each tunnel online at the node that holds it", () => {
    for (const node of cl.nodes) {
      expect(tunnelAt(node, onB.tunnelId)).toMatchObject({ online: true, node: "b" });
      expect(tunnelAt(node, onC.tunnelId)).toMatchObject({ online: true, node: "c" });
    }
    const table = cl.c.cli(["tunnel", "ls"]);
    expect(table.stdout).toMatch(/Node/);
  });
});

describe("routing through a peer", () => {
  test("HTTP through node a (and c) reaches the client held by node b", async () => {
    for (const node of [cl.a, cl.c, cl.b]) {
      const r = await routedHttp(node, `/via-${node.nodeId}`);
      expect(r.body).toBe(`hello from behind b: /via-${node.nodeId}`);
    }
  });

  test("HTTPS through node a: node a terminates with the cluster's certificate (the client's CA file from node b verifies it)", async () => {
    const r = await waitForStatus(() => curl(cl.a, SITE, "/secure", { https: true, ca: cl.b.caPath, timeoutMs: 5_000 }), 200, "HTTPS via a");
    expect(r.body).toBe("hello from behind b: /secure");
  });

  test("HTTPS pass-through by SNI through node a: the visitor's TLS ends at the upstream behind node b's client", async () => {
    const r = await waitForStatus(() => curl(cl.a, PASS, "/", { https: true, ca: passCaPath, timeoutMs: 5_000 }), 200, "SNI pass-through via a");
    expect(r.body).toBe("tls passed through to b's upstream");
  });

  test("TCP: every node listens on the forwarded port and carries it to node b's client", async () => {
    for (const node of cl.nodes) await waitFor(() => echoes(echoPort, node.address), `the echo port through node ${node.nodeId}`, 15_000, 200);
    const big = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    const r = await tcpExchange(echoPort, big, 30_000, cl.a.address);
    expect(r.sha256).toBe(sha256(big));
  });

  test("public SOCKS5 at node a, with the token of node c's tunnel: a name and a port held by node b's client", async () => {
    const token = JSON.parse(readFileSync(onC.configPath, "utf8")).key as string;
    const viaSocks = () =>
      runAsync(["curl", "-sS", "--max-time", "10", "--socks5-hostname", `${cl.a.address}:${socksPort}`, "--proxy-user", `anyone:${token}`, `http://${SITE}/socks`]);
    const r = await waitFor(async () => ((await viaSocks()).stdout === "hello from behind b: /socks" ? true : null), "the site through node a's SOCKS port", 15_000, 200);
    expect(r).toBe(true);
    // An allocated port is matched by its number: node b's client's echo, raw bytes.
    const c = await connectRaw(socksPort);
    expect(await socksRequest(c, { host: "echo.anywhere.example", port: echoPort }, { password: token })).toEqual({ stage: "reply", code: 0 });
    await c.write(new TextEncoder().encode("ping through a peer\n"));
    expect(new TextDecoder().decode(await c.read(20))).toBe("ping through a peer\n");
    c.socket.end();
  });

  test("ports map: a client on node c reaches the service behind node b's client", async () => {
    await waitFor(() => echoes(mapPort, "127.0.0.1"), "the mapped port on the client of node c", 15_000, 200);
    const data = new Uint8Array(1024 * 1024).fill(0x33);
    expect((await tcpExchange(mapPort, data, 30_000)).sha256).toBe(sha256(data));
  });
});

describe("sessions from any node", () => {
  test("an Admin API session made at node a works at node b; a page set made at a is served at c", async () => {
    const made = cl.a.cli(["apikey", "create", "--description", "cluster e2e"]);
    expect(made.code).toBe(0);
    const key = made.stdout.trim().split("\n").at(-1)!.trim();
    const atA = (adminApi = await new AdminApiClient(() => cl.a.httpsPort, DOMAIN, cl.a.address).login(key));
    const atB = new AdminApiClient(() => cl.b.httpsPort, DOMAIN, cl.b.address);
    atB.cookie = atA.cookie;
    const online = await atB.get("tunnel/list/online");
    expect(online.status).toBe(200);
    expect(online.json.tunnels.map((t: { id: string }) => t.id).sort()).toEqual([onB.tunnelId, onC.tunnelId].sort());

    // More than 50 tunnels: the list is paged; its page set lives in the database.
    const { db, close } = await openDatabase({ url: cl.databaseUrl });
    try {
      for (let i = 0; i < 50; i++) await insertTunnel(db);
    } finally {
      close();
    }
    const list = await atA.get("tunnel/list");
    expect(list.json.total).toBe(52);
    expect(list.json.links).toHaveLength(2);
    const atC = new AdminApiClient(() => cl.c.httpsPort, DOMAIN, cl.c.address);
    atC.cookie = atA.cookie;
    const page = await atC.get(`tunnel/page/${list.json.links[1].uid}`);
    expect(page.status).toBe(200);
    expect(page.json.tunnels).toHaveLength(2);
  }, 120_000);

  test("a dashboard session made at node a is signed in at node c", async () => {
    expect(addAdmin(cl.a, "admin@spokes.test", "correct horse battery").code).toBe(0);
    const cookie = (adminCookie = await dashboardLogin(cl.a, "admin@spokes.test", "correct horse battery"));
    const page = await dashboardPage(cl.c, cookie, "/");
    expect(page.status).toBe(200);
    expect(page.body).not.toContain('name="password"');
    const anonymous = await dashboardPage(cl.c, "spokes_session=forged", "/");
    expect(anonymous.status).toBe(303);
  });
});

describe("remote management from any node", () => {
  const ADDED = `added.${DOMAIN}`;
  const savedHttps = () => (JSON.parse(readFileSync(onB.configPath, "utf8")) as { https: { domain: string; port: number }[] }).https;

  test("the Admin API at node a shows node b's tunnel online with its live rules, and a rule update made there is applied by the client and routed by node c", async () => {
    const config = await adminApi.get(`tunnel/config/${onB.tunnelId}`);
    expect(config.status).toBe(200);
    expect(config.json.config.https.map((h: { domain: string }) => h.domain).sort()).toEqual([SITE, PASS].sort());

    const r = await adminApi.post(`tunnel/traffic/http/update/${onB.tunnelId}`, { sites: [{ domain: ADDED, destination: "127.0.0.1", port: webPort }] });
    expect(r.json).toEqual({ status: true, message: "Change applied" });
    expect(savedHttps()).toContainEqual(expect.objectContaining({ domain: ADDED, port: webPort }));
    // Node c routes it once its location poll (every second) has the new rules.
    const res = await waitForStatus(() => curl(cl.c, ADDED, "/added-through-c", { timeoutMs: 5_000 }), 200, `${ADDED} through node c`);
    expect(res.body).toBe("hello from behind b: /added-through-c");
    const after = await adminApi.get(`tunnel/config/${onB.tunnelId}`);
    expect(after.json.config.https.map((h: { domain: string }) => h.domain)).toContain(ADDED);

    // A change the client cannot apply comes back with the client's refusal, not "offline".
    const bad = await adminApi.post(`tunnel/traffic/http/remove/${onB.tunnelId}`, { domains: [`missing.${DOMAIN}`] });
    expect([bad.status, bad.json.status]).toEqual([400, false]);
    expect(bad.json.error).toContain(`missing.${DOMAIN}`);
  }, 60_000);

  test("the dashboard at node c shows the tunnel online with its rules and removes a rule through node b's client", async () => {
    const page = await dashboardPage(cl.c, adminCookie, `/tunnels/${onB.tunnelId}`);
    expect(page.status).toBe(200);
    expect(page.body).not.toContain("The tunnel is offline");
    expect(page.body).toContain(ADDED);
    const r = await dashboardPost(cl.c, adminCookie, `/tunnels/${onB.tunnelId}`, `/tunnels/${onB.tunnelId}/http/remove`, { domain: ADDED });
    expect(r).toEqual({ status: 303, location: expect.stringContaining("done=http-removed") });
    expect(savedHttps().map((h) => h.domain).sort()).toEqual([SITE, PASS].sort());
    await waitForStatus(() => curl(cl.a, ADDED, "/gone", { timeoutMs: 5_000 }), 404, `${ADDED} gone at node a`);
  }, 60_000);
});

describe("peer links", () => {
  test("a peer link with a wrong secret is refused with 403 and logged; the right secret is admitted", async () => {
    const from = cl.a.log.text.length;
    expect(await peerLinkStatus(cl.a, "not-the-cluster-secret-0123456789")).toBe(403);
    await cl.a.log.waitFor("refused: wrong or missing cluster secret", { from });
    expect(await peerLinkStatus(cl.a, "")).toBe(403);
    expect(await peerLinkStatus(cl.a, cl.secret, "probe")).toBe(101);
  });
});

describe("memory through a peer hop", () => {
  test("1 GiB uploaded through node a to node b's client beside a never-reading visitor: the nodes' memory stays bounded", async () => {
    const nodes = [cl.a, cl.b];
    await waitFor(() => echoes(echoPort, cl.a.address), "routing through a", 15_000, 200);
    const stuck: Socket = connect({ host: cl.a.address, port: firehosePort });
    stuck.on("error", () => {});
    stuck.pause();
    try {
      await waitFor(() => firehoseWritten > 1024 * 1024, "the firehose to start", 15_000);
      const before = nodes.map((n) => rssKiB(n.proc.pid));
      const peak = [...before];
      const sample = () => nodes.forEach((n, i) => (peak[i] = Math.max(peak[i]!, rssKiB(n.proc.pid))));
      const sampler = setInterval(sample, 50);
      const BULK = 1024 * 1024 * 1024;
      const started = performance.now();
      try {
        await upload(cl.a.address, sinkPort, BULK);
        await waitFor(() => sinkReceived >= BULK, "the sink to get every byte", 60_000);
      } finally {
        clearInterval(sampler);
      }
      const seconds = (performance.now() - started) / 1000;
      nodes.forEach((n, i) => {
        console.log(
          `node ${n.nodeId}: RSS ${(before[i]! / 1024).toFixed(0)} MiB before, peak ${(peak[i]! / 1024).toFixed(0)} MiB; ` +
            `1 GiB in ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MiB/s); stuck source wrote ${(firehoseWritten / 1048576).toFixed(1)} MiB`,
        );
      });
      expect(sinkReceived).toBe(BULK);
      // Back-pressure reached the stuck source across the peer hop: kernel buffers plus windows.
      expect(firehoseWritten).toBeLessThan(64 * 1024 * 1024);
      for (let i = 0; i < nodes.length; i++) {
        expect((peak[i]! - before[i]!) / 1024).toBeLessThan(192);
        expect(peak[i]! / 1024).toBeLessThan(400);
      }
    } finally {
      stuck.destroy();
    }
  }, 240_000);
});

describe("failover", () => {
  test("kill -9 node b: its client is back at node a within 10 s and routed from every live node; nothing is lost", async () => {
    const tokensBefore = cl.a.json<{ id: string; active: boolean }[]>(["token", "ls", "--json"]);
    const rulesOf = async (api: AdminApiClient) => {
      const r = await api.get("tunnel/list/online?details=true");
      const t = r.json.tunnels.find((x: { id: string }) => x.id === onB.tunnelId);
      return { https: t.https.map((h: { domainName: string }) => h.domainName).sort(), ports: t.ports.map((p: { port: number }) => p.port).sort() };
    };
    const rulesBefore = await rulesOf(adminApi);
    expect(rulesBefore.https).toEqual([SITE, PASS].sort());
    expect(rulesBefore.ports).toHaveLength(3);
    const portsBefore = cl.a.json<{ port: number; tunID: string }[]>(["port", "ls", "--json"]).map((p) => `${p.port}/${p.tunID}`).sort();
    const from = onB.log.text.length;
    const killed = performance.now();
    await cl.b.kill9();

    await onB.log.waitFor(`tunnel ${onB.tunnelId} online`, { from, timeoutMs: 10_000 });
    const reconnectedMs = performance.now() - killed;
    expect(onB.log.text.slice(from)).toContain(`connecting to ${cl.a.hostPort}`);

    // Routed again from every live node (a holds it now; c routes through its peer link to a).
    for (const node of [cl.a, cl.c]) {
      await routedHttp(node, `/after-${node.nodeId}`);
      await waitFor(() => echoes(echoPort, node.address), `the echo port through node ${node.nodeId}`, 10_000, 200);
    }
    await waitFor(() => echoes(mapPort, "127.0.0.1"), "the mapped port on node c's client", 10_000, 200);
    const routedMs = performance.now() - killed;
    console.log(`client of node b: online at node a ${(reconnectedMs / 1000).toFixed(1)} s after kill -9, routed from a and c after ${(routedMs / 1000).toFixed(1)} s`);
    expect(routedMs).toBeLessThan(10_000);
    expect(tunnelAt(cl.c, onB.tunnelId)).toMatchObject({ online: true, node: "a" });

    // No configuration lost: the same rules (read at node c), tokens and port allocations.
    const atC = new AdminApiClient(() => cl.c.httpsPort, DOMAIN, cl.c.address);
    atC.cookie = adminApi.cookie;
    expect(await rulesOf(atC)).toEqual(rulesBefore);
    expect(cl.c.json<{ id: string; active: boolean }[]>(["token", "ls", "--json"])).toEqual(tokensBefore);
    expect(cl.c.json<{ port: number; tunID: string }[]>(["port", "ls", "--json"]).map((p) => `${p.port}/${p.tunID}`).sort()).toEqual(portsBefore);

    // Node b's heartbeat expires (10 s): cluster ls shows it dead, holding nothing, and nothing is left inconsistent.
    const b = await waitFor(() => cl.a.json<{ nodeId: string; live: boolean; tunnels: number }[]>(["cluster", "ls", "--json"]).find((n) => n.nodeId === "b" && !n.live), "node b dead in cluster ls", 20_000, 500);
    expect(b.tunnels).toBe(0);
    const check = cl.a.cli(["clean", "--check"]);
    expect(check.stdout).toContain("Issues Found (tunnels + ports): 0");
    expect(check.code).toBe(0);
  }, 60_000);
});

describe("settings shared by the cluster (last: it changes the certificate the clients trust)", () => {
  test("a certificate uploaded in node a's dashboard: node c, restarted, restores its files from the database and serves it", async () => {
    const uploaded = await generateSelfSigned(DOMAIN);
    const caPath = join(tempDir("cluster-upload-"), "uploaded.crt");
    writeFileSync(caPath, uploaded.certPem);
    const r = await dashboardPost(cl.a, adminCookie, "/settings", "/settings/tls", { domain: DOMAIN, tlsMode: "custom", certificate: uploaded.certPem, privateKey: uploaded.keyPem });
    expect(r).toEqual({ status: 303, location: expect.stringContaining("/settings?done=tls") });
    // Node a serves it at once; node c reads the shared setting at its next start, without the files.
    await waitForStatus(() => curl(cl.a, SITE, "/uploaded", { https: true, ca: caPath, timeoutMs: 5_000 }), 200, "the upload served at a");
    await cl.c.kill9();
    // On one machine node c could read node a's files: remove them, as on a disk of its own.
    const uploadDir = join(cl.a.dir, "tls");
    for (const f of ["dashboard-certificate.pem", "dashboard-private-key.pem"]) rmSync(join(uploadDir, f));
    await cl.c.restart();
    expect(cl.c.log.text).toContain("restored the certificate uploaded in the dashboard from the database");
    const atC = await waitForStatus(() => curl(cl.c, SITE, "/uploaded", { https: true, ca: caPath, timeoutMs: 5_000 }), 200, "the upload served at c");
    expect(atC.body).toBe("hello from behind b: /uploaded");
  }, 60_000);
});

