// Pool growth of the tunnel engines, in-process: under load the client opens extra data
// connections up to the pool size the server announced, the server refuses more than
// that, idle extras close after two checks on the client's clock, and the data
// connections go when the control connection does.
import { afterEach, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { defaultClientConfig } from "../../../lib/client-config/types.ts";
import type { MuxStream } from "../../../lib/mux/stream.ts";
import { rawConnection, startClient, startServer, TUNNEL_A, until, type InMemoryClient } from "./in-memory-tunnel.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP echo upstream on loopback: what the client's port rule forwards to. */
function echoUpstream(): TCPSocketListener {
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: (s) => void s.setNoDelay(true), data: (s, d) => void s.write(d) },
  });
  cleanups.push(() => listener.stop(true));
  return listener;
}

/** Opens a stream from the server to the client's port 22001 and checks it echoes. */
async function echoStream(server: ReturnType<typeof startServer>, text: string): Promise<MuxStream> {
  const stream = server.tunnel(TUNNEL_A)!.openStream({ t: "tcp", p: 22001, r: "203.0.113.1" });
  let got = "";
  stream.ondata = (b) => void (got += new TextDecoder().decode(b));
  stream.write(new TextEncoder().encode(text));
  await until(() => got === text, `the echo of ${text}`);
  return stream;
}

function setup(poolSize: number) {
  const upstream = echoUpstream();
  const server = startServer({ poolSize });
  const config = { ...defaultClientConfig(), key: "key-a", ports: [{ port: 22001, destination: "127.0.0.1", dstPort: upstream.port, firewall: [] }] };
  const c: InMemoryClient = startClient(server, { config, streamsPerConnection: 1, poolIdleCheckMs: 30_000 });
  cleanups.push(() => c.client.stop());
  c.client.start();
  return { server, c };
}

const dataConnects = (c: InMemoryClient) => c.connections.filter((x) => x.endpoint.kind === "data");

test("under load the client grows its pool to the announced size and no further; streams spread over it", async () => {
  const { server, c } = setup(3);
  await until(() => c.client.state === "online", "online");
  const tunnel = server.tunnel(TUNNEL_A)!;
  expect(tunnel.pool.size).toBe(1); // the control connection carries streams too

  const streams = [await echoStream(server, "one")];
  await until(() => tunnel.pool.size === 2, "the first data connection");
  streams.push(await echoStream(server, "two"));
  await until(() => tunnel.pool.size === 3, "the second data connection");
  for (let i = 3; i <= 12; i++) streams.push(await echoStream(server, `stream ${i}`));
  await Bun.sleep(10);
  expect(tunnel.pool.size).toBe(3);
  expect(dataConnects(c)).toHaveLength(2);
  expect(dataConnects(c).every((x) => x.endpoint.kind === "data" && x.endpoint.session === tunnel.session)).toBe(true);
  // The server picks the least busy connection: every one of the three carries streams.
  expect(tunnel.pool.sessions.map((s) => s.streamCount).sort()).toEqual([4, 4, 4]);
  for (const s of streams) s.end();
});

test("the server refuses a data connection beyond the pool size it announced", async () => {
  const { server, c } = setup(2);
  await until(() => c.client.state === "online", "online");
  const tunnel = server.tunnel(TUNNEL_A)!;
  await echoStream(server, "load");
  await until(() => tunnel.pool.size === 2, "the pool full");
  const extra = await rawConnection(server, { kind: "data", key: "key-a", session: tunnel.session });
  await until(() => extra.closed(), "the extra connection closed");
  expect(tunnel.pool.size).toBe(2);
});

test("idle extra connections close after two checks on the client's clock; the control connection stays", async () => {
  const { server, c } = setup(3);
  await until(() => c.client.state === "online", "online");
  const tunnel = server.tunnel(TUNNEL_A)!;
  const streams = [await echoStream(server, "a")];
  await until(() => tunnel.pool.size === 2, "grown");
  streams.push(await echoStream(server, "b"));
  await until(() => tunnel.pool.size === 3, "grown twice");
  streams.push(await echoStream(server, "c")); // the least busy: the new connection
  expect(tunnel.pool.sessions.map((s) => s.streamCount)).toEqual([1, 1, 1]);
  c.clock.advance(30_000);
  c.clock.advance(30_000);
  await Bun.sleep(10);
  expect(tunnel.pool.size).toBe(3); // busy connections are kept
  // Ended from the server: closed on the server once the client (and its upstream) ended too.
  let closed = 0;
  for (const s of streams) {
    s.onclose = () => void closed++;
    s.end();
  }
  await until(() => closed === 3, "the streams closed on both sides");
  expect(tunnel.pool.streamCount).toBe(0);
  c.clock.advance(30_000); // first idle check: noted
  await Bun.sleep(10);
  expect(tunnel.pool.size).toBe(3);
  c.clock.advance(30_000); // second: both closed at this one check
  await until(() => tunnel.pool.size === 1, "back to the control connection");
  expect(c.clock.now()).toBe(120_000);
  expect(tunnel.pool.sessions[0]).toBe(tunnel.control);
  expect(c.client.state).toBe("online");
});

test("when the control connection goes, its data connections go with it", async () => {
  const { server, c } = setup(2);
  await until(() => c.client.state === "online", "online");
  const tunnel = server.tunnel(TUNNEL_A)!;
  await echoStream(server, "load");
  await until(() => tunnel.pool.size === 2, "grown");
  const data = dataConnects(c)[0]!.transport!;
  c.control()!.abort();
  await until(() => data.closed, "the data connection closed");
  await until(() => !tunnel.online, "the tunnel offline on the server");
  expect(c.client.state).toBe("offline");
});
