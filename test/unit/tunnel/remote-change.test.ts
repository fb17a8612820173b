// Remote management between the tunnel engines, in-process: the server sends a change,
// the client applies it, re-announces its rules and answers; by the time the server's
// applyChange resolves, the new rules are routed. Refusals and silence come back as errors.
import { afterEach, expect, test } from "bun:test";
import { applyRemoteChange } from "../../../lib/client-config/remote-change.ts";
import { defaultClientConfig, emptyHttpRule, type ClientConfig } from "../../../lib/client-config/types.ts";
import { startClient, startServer, TUNNEL_A, until, type InMemoryClient } from "./in-memory-tunnel.ts";

const clients: InMemoryClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.client.stop();
});

async function online(applyRemote?: (change: unknown) => Promise<ClientConfig>) {
  const server = startServer();
  let config: ClientConfig = { ...defaultClientConfig(), key: "key-a", https: [{ ...emptyHttpRule("app.example.com"), port: 8080 }] };
  const c = startClient(server, {
    config,
    // What pktriot does (commands/_run-tunnel.ts): apply to its current config, save, hand back.
    applyRemoteChange: applyRemote ?? (async (change) => (config = applyRemoteChange(config, change as never))),
  });
  clients.push(c);
  c.client.start();
  await until(() => c.client.state === "online", "online");
  return { server, c, tunnel: server.tunnel(TUNNEL_A)!, current: () => config };
}

test("the client applies a change and re-announces: when applyChange resolves, the new rules are routed and stored", async () => {
  const { server, tunnel, current } = await online();
  const announcedBefore = server.record.rulesChanged.length;
  const result = await tunnel.applyChange({ kind: "http/update", sites: [{ ...emptyHttpRule("new.example.com"), port: 9090 }] });
  expect(result).toEqual({ ok: true });
  // In force at the moment of the answer: the client's `rules` reached the server before `applied`.
  expect(server.engine.registry.http("new.example.com")?.tunnel).toBe(tunnel);
  expect(server.engine.registry.http("app.example.com")?.tunnel).toBe(tunnel);
  expect(tunnel.https.map((h) => h.domain).sort()).toEqual(["app.example.com", "new.example.com"]);
  expect(server.record.rulesChanged.length).toBe(announcedBefore + 1);
  expect(server.record.rulesChanged.at(-1)!.domains.sort()).toEqual(["app.example.com", "new.example.com"]);
  expect(current().https.map((h) => h.domain)).toEqual(["app.example.com", "new.example.com"]);

  expect(await tunnel.applyChange({ kind: "http/remove", domains: ["app.example.com"] })).toEqual({ ok: true });
  expect(server.engine.registry.http("app.example.com")).toBeUndefined();
  expect(tunnel.https.map((h) => h.domain)).toEqual(["new.example.com"]);
});

test("a change the client refuses comes back with the client's reason, and nothing changes", async () => {
  const { server, tunnel } = await online();
  const announcedBefore = server.record.rulesChanged.length;
  expect(await tunnel.applyChange({ kind: "http/remove", domains: ["zzz.example.com"] })).toEqual({ ok: false, error: "no HTTP rule for zzz.example.com" });
  expect(server.record.rulesChanged.length).toBe(announcedBefore);
  expect(server.engine.registry.http("app.example.com")?.tunnel).toBe(tunnel);
});

test("a client without remote management says so", async () => {
  const server = startServer();
  const c = startClient(server);
  clients.push(c);
  c.client.start();
  await until(() => c.client.state === "online", "online");
  expect(await server.tunnel(TUNNEL_A)!.applyChange({ kind: "tcp/add", port: 22001 })).toEqual({ ok: false, error: "client does not accept remote changes" });
});

test("a client that never answers: the change fails after 15 s on the server's clock", async () => {
  const { server, tunnel } = await online(() => new Promise(() => {}));
  let result: unknown;
  void tunnel.applyChange({ kind: "tcp/add", port: 22001 }).then((r) => (result = r));
  await Bun.sleep(5);
  server.clock.advance(14_999);
  await Bun.sleep(5);
  expect(result).toBeUndefined();
  server.clock.advance(1);
  await until(() => result, "the timeout");
  expect(result).toEqual({ ok: false, error: "the client did not answer in time" });
});

test("a pending change fails when the tunnel goes offline", async () => {
  const { c, tunnel } = await online(() => new Promise(() => {}));
  const pending = tunnel.applyChange({ kind: "tcp/add", port: 22001 });
  await Bun.sleep(5);
  c.control()!.abort();
  expect(await pending).toEqual({ ok: false, error: "tunnel went offline" });
  expect(await tunnel.applyChange({ kind: "tcp/add", port: 22001 })).toEqual({ ok: false, error: "tunnel is offline" });
});
