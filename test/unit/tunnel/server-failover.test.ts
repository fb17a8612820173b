// Failover of the tunnel client over several server addresses (cluster nodes), in-process
// with one in-memory server engine per address and fake clocks: a down address is skipped
// at once, a drop moves on to the next address after the backoff delay, every address
// failing in a row falls back to the backoff, and data connections follow their control
// connection's node.
import { afterEach, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { defaultClientConfig } from "../../../lib/client-config/types.ts";
import { webSocketConnector } from "../../../lib/tunnel/client/client.ts";
import { startClient, startServer, TUNNEL_A, until, type InMemoryClient, type InMemoryServer } from "./in-memory-tunnel.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const A = "memory://server";
const B = "memory://node-b";
const C = "memory://node-c";

function cluster(opts: { down?: string[]; poolSize?: number; config?: ReturnType<typeof defaultClientConfig> } = {}) {
  const nodes: Record<string, InMemoryServer> = { [A]: startServer({ poolSize: opts.poolSize }), [B]: startServer({ poolSize: opts.poolSize }), [C]: startServer({ poolSize: opts.poolSize }) };
  const down = new Set(opts.down ?? []);
  const c = startClient(nodes[A]!, { failover: { [B]: nodes[B]!, [C]: nodes[C]! }, down, config: opts.config, streamsPerConnection: 1 });
  cleanups.push(() => c.client.stop());
  return { nodes, down, c };
}

const controlServers = (c: InMemoryClient) => c.connections.filter((x) => x.endpoint.kind === "control").map((x) => x.endpoint.server);
const holder = (nodes: Record<string, InMemoryServer>) => Object.keys(nodes).filter((url) => nodes[url]!.tunnel(TUNNEL_A)?.online);

test("the first address is down: the next one is tried at once (no backoff) and the tunnel comes online there", async () => {
  const { nodes, c } = cluster({ down: [A] });
  c.client.start();
  await until(() => c.client.state === "online", "online on the second address");
  expect(controlServers(c)).toEqual([A, B]);
  expect(holder(nodes)).toEqual([B]);
  expect(c.warnings).toEqual([`cannot connect to ${A}: connection refused; trying ${B}`]);
  // No timer was needed: the fake clock never moved.
  expect(c.clock.now()).toBe(0);
});

test("the node holding the tunnel drops: after the backoff delay the client reconnects to the next address", async () => {
  const { nodes, down, c } = cluster();
  c.client.start();
  await until(() => c.client.state === "online", "online on the first address");
  expect(holder(nodes)).toEqual([A]);

  down.add(A); // the node died: its connection drops and it accepts none
  c.control()!.abort();
  await until(() => c.client.state === "offline", "offline");
  expect(c.warnings.at(-1)).toMatch(new RegExp(`^disconnected: connection closed \\(1006 connection lost\\); reconnecting to ${B} in [0-9.]+s$`));
  // First backoff: 1 s ± 30 %.
  c.clock.advance(699);
  await Bun.sleep(5);
  expect(controlServers(c)).toEqual([A]);
  c.clock.advance(601);
  await until(() => c.client.state === "online", "online again");
  expect(controlServers(c)).toEqual([A, B]);
  expect(nodes[B]!.tunnel(TUNNEL_A)?.online).toBe(true);
});

test("the next address is down too: the one after it is tried at once, with no second backoff", async () => {
  const { nodes, down, c } = cluster();
  c.client.start();
  await until(() => c.client.state === "online", "online");
  down.add(A).add(B);
  c.control()!.abort();
  await until(() => c.client.state === "offline", "offline");
  c.clock.advance(1300);
  await until(() => c.client.state === "online", "online on the third address");
  expect(controlServers(c)).toEqual([A, B, C]);
  expect(holder(nodes)).toEqual([C]);
  expect(c.clock.now()).toBe(1300);
});

test("every address fails in a row: the client backs off as with one address, and keeps rotating", async () => {
  const { down, c } = cluster({ down: [A, B, C] });
  c.client.start();
  // One round: A, B, C at once, then the first backoff (1 s ± 30 %).
  await until(() => c.client.state === "offline", "offline after a round");
  expect(controlServers(c)).toEqual([A, B, C]);
  c.clock.advance(699);
  await Bun.sleep(5);
  expect(controlServers(c)).toHaveLength(3);
  c.clock.advance(601);
  // Second round, starting where the rotation stands (A again), then the second backoff (2 s ± 30 %).
  await until(() => controlServers(c).length === 6, "the second round");
  expect(controlServers(c)).toEqual([A, B, C, A, B, C]);
  c.clock.advance(1399);
  await Bun.sleep(5);
  expect(controlServers(c)).toHaveLength(6);
  down.delete(B);
  c.clock.advance(1201);
  await until(() => c.client.state === "online", "online once B is back");
  expect(controlServers(c)).toEqual([A, B, C, A, B, C, A, B]);
});

test("data connections go to the node that holds the control connection", async () => {
  const upstream: TCPSocketListener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d) => void s.write(d) } });
  cleanups.push(() => upstream.stop(true));
  const config = { ...defaultClientConfig(), key: "key-a", ports: [{ port: 22001, destination: "127.0.0.1", dstPort: upstream.port, firewall: [] }] };
  const { nodes, c } = cluster({ down: [A], poolSize: 3, config });
  c.client.start();
  await until(() => c.client.state === "online", "online on B");
  const tunnel = nodes[B]!.tunnel(TUNNEL_A)!;
  const stream = tunnel.openStream({ t: "tcp", p: 22001, r: "203.0.113.1" });
  let got = "";
  stream.ondata = (b) => void (got += new TextDecoder().decode(b));
  stream.write(new TextEncoder().encode("ping"));
  await until(() => got === "ping", "the echo");
  await until(() => tunnel.pool.size === 2, "a data connection at B");
  const data = c.connections.filter((x) => x.endpoint.kind === "data");
  expect(data.length).toBeGreaterThan(0);
  expect(data.every((x) => x.endpoint.server === B)).toBe(true);
});

test("one address behaves as before: the failure is followed by the backoff, never by an immediate retry", async () => {
  const server = startServer();
  const c = startClient(server, { failConnects: 1 });
  cleanups.push(() => c.client.stop());
  c.client.start();
  await until(() => c.client.state === "offline", "offline");
  expect(c.connections).toHaveLength(1);
  expect(c.warnings).toEqual([expect.stringMatching(/^disconnected: cannot connect to memory:\/\/server: connection refused; reconnecting in [0-9.]+s$/)]);
  c.clock.advance(1300);
  await until(() => c.client.state === "online", "online at the second attempt");
});

test("the WebSocket connector gives up on an address that accepts TCP but never answers, after its connect timeout", async () => {
  const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: () => {} } });
  cleanups.push(() => silent.stop(true));
  const connector = webSocketConnector({ serverUrl: `ws://127.0.0.1:${silent.port}`, key: "k", tls: async () => undefined, connectTimeoutMs: 300 });
  const t0 = performance.now();
  const err = await connector({ kind: "control" }, new AbortController().signal).catch((e: Error) => e);
  expect(String(err)).toContain(`cannot connect to ws://127.0.0.1:${silent.port}: no answer within 0.3s`);
  expect(performance.now() - t0).toBeLessThan(2_000);
});
