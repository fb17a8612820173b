// Login and reconnection of the tunnel engines, in-process over in-memory transports with
// fake clocks: welcome and routing, refusals the client prints, backoff on the client's
// clock, the server's hello timeout, and a second login of a tunnel replacing the first.
import { afterEach, describe, expect, test } from "bun:test";
import { defaultClientConfig, emptyHttpRule } from "../../../lib/client-config/types.ts";
import { KEYS, rawConnection, startClient, startServer, TUNNEL_A, until, type InMemoryClient } from "./in-memory-tunnel.ts";

const clients: InMemoryClient[] = [];
const track = (c: InMemoryClient) => (clients.push(c), c);
afterEach(async () => {
  for (const c of clients.splice(0)) await c.client.stop();
});

const connectsOf = (c: InMemoryClient) => c.connections.filter((x) => x.endpoint.kind === "control").length;

describe("login", () => {
  test("a client logs in: welcomed with its tunnel id, routed, recorded online, a refused rule reported", async () => {
    const server = startServer({ refuseDomains: ["taken.example.com"] });
    const config = { ...defaultClientConfig(), key: "key-a", https: [{ ...emptyHttpRule("app.example.com"), port: 8080 }, { ...emptyHttpRule("taken.example.com"), port: 8081 }] };
    const c = track(startClient(server, { config }));
    c.client.start();
    await until(() => c.client.state === "online", "the client online");
    expect(c.client.tunnelId).toBe(TUNNEL_A);
    expect(server.engine.registry.http("app.example.com")?.tunnel.tunnelId).toBe(TUNNEL_A);
    expect(server.engine.registry.http("taken.example.com")).toBeUndefined();
    expect(server.record.online).toEqual([TUNNEL_A]);
    expect(c.warnings).toContain("rule taken.example.com refused by the server: not allowed here");
    // The stored copy of the config never carries the auth token.
    expect(server.record.rulesChanged.at(-1)?.config).toMatchObject({ key: "" });
    expect(server.tunnel(TUNNEL_A)?.info).toEqual({ os: "linux", arch: "x64", version: "test" });
    expect(server.tunnel(TUNNEL_A)?.address).toBe("192.0.2.10");
  });

  test("an unknown token: the client prints the server's reason, then retries on its backoff", async () => {
    const server = startServer();
    const c = track(startClient(server, { key: "nope" }));
    c.client.start();
    await until(() => c.errors.length > 0, "the refusal");
    expect(c.errors).toEqual(["server refused the tunnel: unknown auth token"]);
    server.clock.advance(100); // the server closes a refused session after a short delay
    await until(() => c.client.state === "offline", "the client offline");
    expect(c.states.at(-1)).toBe("offline: server refused the tunnel: unknown auth token");
    expect(server.engine.registry.size).toBe(0);
    // First backoff: 1 s ± 30 %. Nothing happens before 700 ms; by 1300 ms it has retried.
    c.clock.advance(699);
    await Bun.sleep(5);
    expect(connectsOf(c)).toBe(1);
    c.clock.advance(601);
    await until(() => connectsOf(c) === 2, "the second attempt");
    expect(server.record.logins).toBe(2);
  });

  test("an unreachable server: attempts back off exponentially on the client's clock, then the client logs in", async () => {
    const server = startServer();
    const c = track(startClient(server, { failConnects: 3 }));
    c.client.start();
    await until(() => c.states.includes("offline: cannot connect to memory://server: connection refused"), "the first failure");
    // Delays are 1 s, 2 s, 4 s, each ± 30 %: the nth retry cannot come before 0.7 × its delay.
    for (const [n, minMs, maxMs] of [[2, 700, 1300], [3, 1400, 2600], [4, 2800, 5200]] as const) {
      c.clock.advance(minMs - 1);
      await Bun.sleep(2);
      expect(connectsOf(c)).toBe(n - 1);
      c.clock.advance(maxMs - minMs + 1);
      await until(() => connectsOf(c) === n, `attempt ${n}`);
    }
    await until(() => c.client.state === "online", "online at the fourth attempt");
  });

  test("a connection that never says hello is closed by the server after 10 s on its clock", async () => {
    const server = startServer();
    const conn = await rawConnection(server, { kind: "control", key: "key-a" });
    server.clock.advance(9_999);
    await Bun.sleep(5);
    expect(conn.closed()).toBeUndefined();
    server.clock.advance(1);
    expect(await until(() => conn.closed(), "the close")).toEqual([4000, "no hello"]);
    expect(server.engine.registry.size).toBe(0);
  });

  test("a data connection for an unknown session, or with another tunnel's token, is closed with 4403 (4401 without a token)", async () => {
    const server = startServer();
    const c = track(startClient(server));
    c.client.start();
    await until(() => c.client.state === "online", "online");
    const session = server.tunnel(TUNNEL_A)!.session;
    for (const request of [{ kind: "data", key: "key-a", session: "no-such-session" }, { kind: "data", key: "key-b", session }, { kind: "data", key: "", session }] as const) {
      const conn = await rawConnection(server, request);
      expect(await until(() => conn.closed(), "the close")).toEqual(request.key ? [4403, "unknown tunnel session"] : [4401, "missing auth token"]);
    }
    expect(server.tunnel(TUNNEL_A)!.pool.size).toBe(1);
  });
});

describe("reconnect replacement", () => {
  test("a second login of the same tunnel replaces the first: the first is told why, the routes move", async () => {
    const server = startServer();
    const config = { ...defaultClientConfig(), key: "key-a", https: [{ ...emptyHttpRule("app.example.com"), port: 8080 }] };
    const first = track(startClient(server, { config }));
    first.client.start();
    await until(() => first.client.state === "online", "the first online");
    const old = server.tunnel(TUNNEL_A)!;

    const second = track(startClient(server, { config }));
    second.client.start();
    await until(() => second.client.state === "online", "the second online");
    await until(() => first.client.state === "offline", "the first offline");
    expect(first.warnings).toContain("server closed the tunnel: replaced by a newer connection of this tunnel");
    const now = server.tunnel(TUNNEL_A)!;
    expect(now).not.toBe(old);
    expect(old.online).toBe(false);
    expect(old.control.closed).toBe(true);
    expect([...server.engine.registry.all()]).toEqual([now]);
    expect(server.engine.registry.http("app.example.com")?.tunnel).toBe(now);
    // The database saw the old session go offline before the new one came online.
    expect(server.record.online).toEqual([TUNNEL_A, TUNNEL_A]);
    expect(server.record.offline).toEqual([TUNNEL_A]);
  });

  test("a connection that died silently: the client's keepalive notices, it reconnects, and its new session replaces the one the server still holds", async () => {
    const server = startServer(); // its keepalive is quiet: it still believes in the old session
    const c = track(startClient(server, { keepalive: { intervalMs: 1_000, timeoutMs: 3_000 } }));
    c.client.start();
    await until(() => c.client.state === "online", "online");
    const old = server.tunnel(TUNNEL_A)!;
    c.control()!.partition();
    c.clock.advance(3_000);
    await until(() => c.client.state === "offline", "the client noticing the dead connection");
    expect(c.states.at(-1)).toMatch(/^offline: nothing received from the peer for 3000 ms/);
    expect(old.online).toBe(true);
    c.clock.advance(1_300); // the first backoff
    await until(() => server.tunnel(TUNNEL_A) !== old && server.tunnel(TUNNEL_A)?.online, "the new session routed");
    await until(() => c.client.state === "online", "the client online again");
    expect(old.online).toBe(false);
    expect(server.engine.registry.size).toBe(1);
    expect(KEYS[server.tunnel(TUNNEL_A)!.key]).toBe(TUNNEL_A);
  });
});
