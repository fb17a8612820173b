// The mesh resolver's policy around the shared SOCKS resolution: the socks.enabled gate,
// tunnel services' own firewalls, and the server's own addresses kept out of broad entries.
import { describe, expect, test } from "bun:test";
import type { SocksTarget } from "../../../../lib/socks/handshake.ts";
import { createTrafficStats } from "../../../../lib/stats/traffic-stats.ts";
import { createMeshResolver } from "../../../../lib/tunnel/server/mesh-resolver.ts";
import { createTunnelRegistry } from "../../../../lib/tunnel/server/registry.ts";
import type { LiveTunnel } from "../../../../lib/tunnel/server/server.ts";
import { waitFor } from "../../../helpers.ts";
import { FakeConnection } from "../../socks/fake-connection.ts";

/** A registry holding one online tunnel with port 23000 (firewall: drop 203.0.113.0/24) and app.test. */
function setup(opts: { enabled?: boolean; allow?: string[]; protectedAddresses?: string[] } = {}) {
  const opened: unknown[] = [];
  const tunnel = {
    tunnelId: "a".repeat(32),
    userId: null,
    online: true,
    address: "198.51.100.9",
    login: { tunnelId: "a".repeat(32), userId: null, hostname: "" },
    openStream(meta: unknown) {
      opened.push(meta);
      return new FakeConnection();
    },
  } as unknown as LiveTunnel;
  const registry = createTunnelRegistry<LiveTunnel>();
  registry.add(tunnel);
  registry.setRoutes(
    tunnel,
    [
      { domain: "app.test", ownCertificate: false, redirect: false, rewriteHost: "", basicHttpAuth: "", firewall: [], available: true },
      { domain: "locked.test", ownCertificate: false, redirect: false, rewriteHost: "", basicHttpAuth: "u:$argon2id$...", firewall: [], available: true },
    ],
    [{ port: 23000, forwarded: true, firewall: [{ sequence: 1, action: "drop", network: "203.0.113.0/24" }] }],
  );
  const log: string[] = [];
  const mesh = createMeshResolver({
    routes: registry,
    stats: createTrafficStats(),
    allow: () => opts.allow ?? [],
    enabled: () => opts.enabled ?? true,
    protectedAddresses: opts.protectedAddresses,
    log: { info: (m) => log.push(m), warn: (m) => log.push(m) },
  });
  return { mesh, opened, tunnel, log };
}

const target = (host: string, port: number) => ({ host, port, addrType: 3 }) as SocksTarget;

describe("mesh resolver", () => {
  test("an allocated port is served by its tunnel whatever the name; its firewall sees the caller", async () => {
    const { mesh, opened } = setup();
    const ok = await mesh.dial(target("anything.example", 23000), "192.0.2.1");
    expect(ok.ok).toBe(true);
    expect(opened).toEqual([{ t: "svc", h: "anything.example", p: 23000, r: "192.0.2.1" }]);
    const dropped = await mesh.dial(target("anything.example", 23000), "203.0.113.7");
    expect(dropped).toMatchObject({ ok: false, reply: 0x02 });
    expect(opened).toHaveLength(1);
  });

  test("an HTTP rule's hostname is a service on 80 and 443 only", async () => {
    const { mesh } = setup();
    expect((await mesh.dial(target("APP.test", 80), "192.0.2.1")).ok).toBe(true);
    expect((await mesh.dial(target("app.test", 443), "192.0.2.1")).ok).toBe(true);
    expect(await mesh.dial(target("app.test", 8080), "192.0.2.1")).toMatchObject({ ok: false, reply: 0x02 });
    // Basic auth is the server's HTTP router's job, which a mesh connection bypasses.
    expect(await mesh.dial(target("locked.test", 80), "192.0.2.1")).toMatchObject({ ok: false, reply: 0x02 });
  });

  test("the server's own addresses need an entry naming them: a broad range does not open them", async () => {
    const { mesh } = setup({ allow: ["10.0.0.0/8", "0.0.0.0/0"], protectedAddresses: ["10.0.0.5"] });
    for (const host of ["10.0.0.5", "127.0.0.1", "169.254.169.254"]) {
      expect(await mesh.dial(target(host, 22), "192.0.2.1")).toMatchObject({ ok: false, reply: 0x02 });
    }
  });

  test("a mesh stream gets its status byte: 0x02 while socks.enabled is false", async () => {
    const { mesh, tunnel, opened, log } = setup({ enabled: false });
    const stream = new FakeConnection();
    mesh.serveStream(tunnel, stream, { t: "dial", h: "app.test", p: 80 });
    expect(stream.bytes()).toEqual(Uint8Array.of(0x02));
    expect(stream.ended).toBe(true);
    expect(opened).toHaveLength(0);
    expect(log.join("\n")).toContain("socks.enabled");
  });

  test("a mesh stream to a service: status 0, then the stream is joined to the tunnel's", async () => {
    const { mesh, tunnel, opened } = setup();
    const stream = new FakeConnection();
    mesh.serveStream(tunnel, stream, { t: "dial", h: "x", p: 23000 });
    await waitFor(() => stream.written.length > 0, "the status byte");
    expect(stream.bytes()).toEqual(Uint8Array.of(0));
    expect(opened).toEqual([{ t: "svc", h: "x", p: 23000, r: `mesh:${"a".repeat(32)}` }]);
  });
});
