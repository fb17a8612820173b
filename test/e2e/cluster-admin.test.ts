// An admin's actions at one node on a tunnel whose client is connected to another (issue 10:
// "Admin API on any node"): the tunnel shows online with its rules at node a, a remote
// change made through node a's Admin API is applied by the client on node b (and routed),
// and a shutdown at node a disconnects the client on node b.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { waitFor } from "../helpers.ts";
import { AdminApiClient } from "./_admin-api-client.ts";
import { DOMAIN, configureClusterClient, startCluster, type TestCluster } from "./_cluster.ts";
import { echoUpstream, sha256, stopAll, tcpExchange, type TestClient } from "./_tunnel-harness.ts";

let cl: TestCluster;
let onB: TestClient;
let atA: AdminApiClient;
let echoPort: number;

beforeAll(async () => {
  cl = await startCluster();
  echoPort = (await echoUpstream()).port;
  onB = await configureClusterClient([cl.b]);
  await onB.start();
  const made = cl.a.cli(["apikey", "create", "--description", "cluster admin e2e"]);
  if (made.code !== 0) throw new Error(`apikey create: ${made.stderr}`);
  atA = await new AdminApiClient(() => cl.a.httpsPort, DOMAIN, cl.a.address).login(made.stdout.trim().split("\n").at(-1)!.trim());
}, 120_000);

afterAll(stopAll);

test("node a's Admin API allocates and forwards a port on the client held by node b; every node routes it", async () => {
  // Node a knows the tunnel is online once it synced b's location (within a second or so).
  const allocated = await waitFor(async () => {
    const r = await atA.get(`tunnel/traffic/tcp/allocate/${onB.tunnelId}`);
    return r.json.status === true ? (r.json.ports[0].port as number) : null;
  }, "tcp/allocate through node a", 15_000, 200);
  const forwarded = await atA.post(`tunnel/traffic/tcp/update/${onB.tunnelId}`, { ports: [{ port: allocated, destination: "127.0.0.1", dstPort: echoPort }] });
  expect(forwarded.json).toEqual({ status: true, message: "Change applied" });
  // The client on b saved the change.
  const saved = JSON.parse(readFileSync(onB.configPath, "utf8"));
  expect(saved.ports).toEqual([{ port: allocated, destination: "127.0.0.1", dstPort: echoPort, firewall: [] }]);
  // And the forward is routed from every node (a and c through their peer links to b).
  const data = new TextEncoder().encode(`through ${allocated}`);
  for (const node of cl.nodes) {
    await waitFor(async () => {
      try {
        return (await tcpExchange(allocated, data, 5_000, node.address)).sha256 === sha256(data);
      } catch {
        return false;
      }
    }, `the echo through node ${node.nodeId}`, 15_000, 200);
  }
});

test("a shutdown at node a disconnects the client connected to node b", async () => {
  const from = onB.log.text.length;
  expect((await atA.get(`tunnel/shutdown/${onB.tunnelId}`)).json.status).toBe(true);
  await onB.log.waitFor("server closed the tunnel: tunnel shut down by an admin", { from, timeoutMs: 10_000 });
  await cl.b.log.waitFor(`tunnel ${onB.tunnelId} offline`, { timeoutMs: 10_000 });
});
