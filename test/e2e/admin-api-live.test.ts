// Remote traffic management of a live tunnel through the Admin API (SPEC 2.3): a real
// dist/spokes, a running dist/pktriot, every `tunnel/traffic/...` endpoint over HTTPS with
// an admin API key, and proof that each change took effect: traffic through the server
// (curl with a Host header, TCP echo through allocated ports, a port map on the client),
// the server's port list, `tunnel/config/{id}` (live, then cached), and the client's own
// saved configuration file. Tunnel B serves an echo behind an allocated port, so a port
// map on A can reach a service behind another tunnel.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { ClientConfig } from "../../lib/client-config/types.ts";
import { freePort, waitFor } from "../helpers.ts";
import { AdminApiClient } from "./_admin-api-client.ts";
import {
  canConnect,
  configureClient,
  curl,
  echoUpstream,
  httpUpstream,
  mustRun,
  startServer,
  stopAll,
  tcpExchange,
  type TestClient,
  type TestServer,
} from "./_tunnel-harness.ts";

const SITE = "live-site.example.com";

let server: TestServer;
let a: TestClient;
let b: TestClient;
let api: AdminApiClient;
let echoPort: number;
let upstreamPort: number;
/** B's allocated port, forwarded to the echo. */
let bPort: number;

const savedConfig = (client: TestClient): ClientConfig => JSON.parse(readFileSync(client.configPath, "utf8"));
const traffic = (path: string, body: unknown) => api.post(`tunnel/traffic/${path}/${a.tunnelId}`, body);
const portList = async (): Promise<{ port: number; tunID: string }[]> => (await api.get("port/list")).json.ports;
const liveConfig = async (): Promise<Record<string, any>> => {
  const r = await api.get(`tunnel/config/${a.tunnelId}`);
  expect(r.json.status).toBe(true);
  return r.json.config;
};

/** Connects to 127.0.0.1:port and resolves once the peer ends or refuses: true when no byte came back. */
function closedWithoutData(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    let got = 0;
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 10_000);
    s.on("connect", () => s.write("anyone there?"));
    s.on("data", (d: Buffer) => (got += d.length));
    const done = () => {
      clearTimeout(timer);
      resolve(got === 0);
    };
    s.on("close", done);
    s.on("error", () => {});
  });
}

beforeAll(async () => {
  // The mesh needs socks.enabled (no public SOCKS port); loopback is reachable only by an explicit entry.
  server = await startServer({ config: { socks: { enabled: true, port: 0, tlsPort: 0, allow: ["127.0.0.1/32"] } } });
  const r = server.cli(["apikey", "create", "--description", "e2e live"]);
  if (r.code !== 0) throw new Error(`apikey create: ${r.stderr}`);
  api = await new AdminApiClient(() => server.httpsPort).login(r.stdout.trim().split("\n").at(-1)!.trim());

  echoPort = (await echoUpstream()).port;
  upstreamPort = httpUpstream({ fetch: (req) => new Response(`upstream saw ${new URL(req.url).pathname} for ${req.headers.get("host")}`) }).port!;

  b = await configureClient(server);
  bPort = await b.allocatePort();
  await mustRun(b, ["tunnel", "tcp", "forward", "--port", String(bPort), "--destination", "127.0.0.1", "--dstport", String(echoPort)]);
  await b.start();

  a = await configureClient(server);
  await a.start();
});

afterAll(stopAll);

describe("remote management of a live tunnel through the Admin API", () => {
  test("tunnel/config returns the live configuration the client announced at connect", async () => {
    const cfg = await liveConfig();
    expect(cfg).toMatchObject({ tunnelID: a.tunnelId, https: [], ports: [], portmaps: [] });
  });

  test("http/update: a site served through the server (Host header → upstream), saved by the client", async () => {
    const r = await traffic("http/update", { sites: [{ domain: SITE, destination: "127.0.0.1", port: upstreamPort }] });
    expect(r.json).toEqual({ status: true, message: "Change applied" });
    // The client re-announces before it answers `applied`: the route is there already.
    const res = await curl(server, SITE, "/hello");
    expect([res.status, res.body]).toEqual([200, `upstream saw /hello for ${SITE}`]);
    expect(savedConfig(a).https).toEqual([expect.objectContaining({ domain: SITE, destination: "127.0.0.1", port: upstreamPort })]);
    expect((await liveConfig()).https).toEqual([expect.objectContaining({ domain: SITE, port: upstreamPort })]);
    expect((await api.get(`tunnel/info/${a.tunnelId}`)).json.tunnel.https).toEqual([expect.objectContaining({ domainName: SITE, tunID: a.tunnelId })]);
  });

  test("http/remove: the site answers 404, gone from the client's file", async () => {
    const bad = await traffic("http/remove", { domains: ["not-there.example.com"] });
    expect([bad.status, bad.json.status]).toEqual([400, false]);
    expect(bad.json.error).toContain("not-there.example.com");

    const r = await traffic("http/remove", { domains: [SITE] });
    expect(r.json.status).toBe(true);
    expect((await curl(server, SITE, "/hello")).status).toBe(404);
    expect(savedConfig(a).https).toEqual([]);
    expect((await liveConfig()).https).toEqual([]);
  });

  let port = 0;
  test("tcp/allocate: a port from the range, in port/list and in the client's file", async () => {
    const r = await api.get(`tunnel/traffic/tcp/allocate/${a.tunnelId}`);
    expect(r.json.status).toBe(true);
    expect(r.json.ports).toEqual([{ port: expect.any(Number), tunID: a.tunnelId }]);
    port = r.json.ports[0].port;
    expect(port).toBeGreaterThanOrEqual(server.portRange.begin);
    expect(port).toBeLessThanOrEqual(server.portRange.end);
    expect(await portList()).toContainEqual({ port, tunID: a.tunnelId });
    expect(savedConfig(a).ports).toEqual([{ port, destination: "", dstPort: 0, firewall: [] }]);
  });

  test("tcp/update: the forward is set and TCP echoes through the port", async () => {
    const foreign = await traffic("tcp/update", { ports: [{ port: bPort, destination: "127.0.0.1", dstPort: echoPort }] });
    expect([foreign.status, foreign.json.error]).toEqual([400, `port ${bPort} is not allocated to this tunnel`]);

    const r = await traffic("tcp/update", { ports: [{ port, destination: "127.0.0.1", dstPort: echoPort }] });
    expect(r.json.status).toBe(true);
    expect(savedConfig(a).ports).toEqual([{ port, destination: "127.0.0.1", dstPort: echoPort, firewall: [] }]);
    expect((await tcpExchange(port, Buffer.from("ping through A"), 10_000)).received.toString()).toBe("ping through A");
    expect((await liveConfig()).ports).toEqual([{ port, destination: "127.0.0.1", dstPort: echoPort, firewall: [] }]);
  });

  test("tcp/reset: the forward is cleared (connections closed), the allocation kept", async () => {
    const r = await traffic("tcp/reset", { ports: [port] });
    expect(r.json.status).toBe(true);
    expect(savedConfig(a).ports).toEqual([{ port, destination: "", dstPort: 0, firewall: [] }]);
    expect(await closedWithoutData(port)).toBe(true);
    expect(await portList()).toContainEqual({ port, tunID: a.tunnelId });
  });

  test("tcp/release: gone from port/list and from the client's file", async () => {
    const r = await traffic("tcp/release", { port });
    expect(r.json.status).toBe(true);
    expect(await portList()).not.toContainEqual({ port, tunID: a.tunnelId });
    expect(savedConfig(a).ports).toEqual([]);
    expect((await liveConfig()).ports).toEqual([]);
    // Released for real: the tunnel cannot forward it any more.
    const again = await traffic("tcp/update", { ports: [{ port, destination: "127.0.0.1", dstPort: echoPort }] });
    expect([again.status, again.json.status]).toEqual([400, false]);
  });

  let toTunnel = 0;
  let toAllowed = 0;
  test("portmap/update: the client listens locally and reaches a service behind another tunnel and an allow-listed one", async () => {
    [toTunnel, toAllowed] = [await freePort(), await freePort()];
    const r = await traffic("portmap/update", {
      portmaps: [
        // An allocated port of another tunnel: the hostname is not used.
        { listenPort: toTunnel, destination: "tunnel-b", dstPort: bPort, transport: "tcp" },
        { listenPort: toAllowed, destination: "127.0.0.1", dstPort: echoPort, transport: "tcp", label: "echo" },
      ],
    });
    expect(r.json.status).toBe(true);
    expect(savedConfig(a).portmaps).toEqual([
      { listenPort: toTunnel, destination: "tunnel-b", dstPort: bPort, transport: "tcp", label: "", http: false },
      { listenPort: toAllowed, destination: "127.0.0.1", dstPort: echoPort, transport: "tcp", label: "echo", http: false },
    ]);
    expect((await tcpExchange(toTunnel, Buffer.from("via B's port"), 10_000)).received.toString()).toBe("via B's port");
    expect((await tcpExchange(toAllowed, Buffer.from("via the allow-list"), 10_000)).received.toString()).toBe("via the allow-list");
    expect((await liveConfig()).portmaps).toHaveLength(2);
  });

  test("portmap/update on a local port another program holds is refused by the client, not saved", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await traffic("portmap/update", { portmaps: [{ listenPort: busy.port, destination: "127.0.0.1", dstPort: echoPort, transport: "tcp" }] });
      expect([r.status, r.json.status]).toEqual([502, false]);
      expect(r.json.error).toBe(`the client did not apply the change: local port ${busy.port} is already in use on 127.0.0.1 by another program`);
      expect(savedConfig(a).portmaps.map((m) => m.listenPort)).toEqual([toTunnel, toAllowed]);
    } finally {
      busy.stop(true);
    }
  });

  test("portmap/remove: the local listener closes, the map leaves the client's file", async () => {
    const r = await traffic("portmap/remove", { listenPorts: [toTunnel] });
    expect(r.json.status).toBe(true);
    expect(await canConnect(toTunnel)).toBe(false);
    expect(await canConnect(toAllowed)).toBe(true);
    expect(savedConfig(a).portmaps.map((m) => m.listenPort)).toEqual([toAllowed]);
    expect((await liveConfig()).portmaps.map((m: { listenPort: number }) => m.listenPort)).toEqual([toAllowed]);
  });

  test("tunnel/config: the cached configuration once the client stopped, and again after a reconnect", async () => {
    await traffic("http/update", { sites: [{ domain: SITE, destination: "127.0.0.1", port: upstreamPort }] });
    const live = await liveConfig();
    expect(live.https).toEqual([expect.objectContaining({ domain: SITE })]);

    a.proc!.kill("SIGTERM");
    expect(await a.proc!.exited).toBe(0);
    await waitFor(async () => (await api.get(`tunnel/info/${a.tunnelId}`)).json.tunnel.state === 3, "the tunnel to go offline");
    expect(await liveConfig()).toEqual(live);
    const offline = await traffic("http/remove", { domains: [SITE] });
    expect(offline.status).toBe(409);

    // A reconnect announces the whole configuration again (the cache is not wiped).
    await a.start();
    expect(await liveConfig()).toEqual(live);
    expect((await curl(server, SITE, "/again")).body).toBe(`upstream saw /again for ${SITE}`);
  });
});
