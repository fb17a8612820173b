// Mesh access lists and private (mesh-only) ports in the server's resolver: who may reach
// a tunnel's service (by tunnel id, by tunnel user name or id), the default for services
// without a list, and the routing table keeping private ports away from public listeners.
import { describe, expect, test } from "bun:test";
import type { SocksTarget } from "../../../../lib/socks/handshake.ts";
import { createTrafficStats } from "../../../../lib/stats/traffic-stats.ts";
import type { HttpRuleAnnounce, PortRuleAnnounce } from "../../../../lib/tunnel/messages.ts";
import { meshAccessRefusal, type MeshCaller } from "../../../../lib/tunnel/server/mesh-access.ts";
import { createMeshResolver } from "../../../../lib/tunnel/server/mesh-resolver.ts";
import { createTunnelRegistry } from "../../../../lib/tunnel/server/registry.ts";
import type { LiveTunnel } from "../../../../lib/tunnel/server/server.ts";
import { waitFor } from "../../../helpers.ts";
import { FakeConnection } from "../../socks/fake-connection.ts";

const OWNER = "a".repeat(32);
const B = "b".repeat(32);
const C = "c".repeat(32);
const BOB_ID = "d".repeat(32);

const bob: MeshCaller = { tunnelId: B, userId: BOB_ID, userName: "bob@example.com" };
const carol: MeshCaller = { tunnelId: C, userId: "e".repeat(32), userName: "carol" };

const site = (domain: string, meshAllow?: string[]): HttpRuleAnnounce => ({ domain, ownCertificate: false, redirect: false, rewriteHost: "", basicHttpAuth: "", firewall: [], available: true, meshAllow });
const port = (n: number, extra: Partial<PortRuleAnnounce> = {}): PortRuleAnnounce => ({ port: n, forwarded: true, firewall: [], ...extra });

/** Tunnel A serves: 23000 open, 23001 for tunnel B only, 23002 for user bob (by name), 23003 private and open, 23004 private for B. */
function setup() {
  const opened: unknown[] = [];
  const fakeTunnel = (tunnelId: string, userName?: string) =>
    ({
      tunnelId,
      userId: null,
      online: true,
      address: "198.51.100.9",
      login: { tunnelId, userId: null, userName, hostname: "" },
      openStream(meta: unknown) {
        opened.push(meta);
        return new FakeConnection();
      },
    }) as unknown as LiveTunnel;
  const owner = fakeTunnel(OWNER);
  const registry = createTunnelRegistry<LiveTunnel>();
  registry.add(owner);
  const routes = registry.setRoutes(
    owner,
    [site("open.test"), site("team.test", ["user:BOB@example.com"])],
    [
      port(23000),
      port(23001, { meshAllow: [`tunnel:${B}`] }),
      port(23002, { meshAllow: ["user:bob@example.com", "tunnel:" + "f".repeat(32)] }),
      port(23003, { private: true }),
      port(23004, { private: true, meshAllow: [`tunnel:${B}`] }),
    ],
  );
  const log: string[] = [];
  const mesh = createMeshResolver({
    routes: registry,
    stats: createTrafficStats(),
    allow: () => [],
    enabled: () => true,
    log: { info: (m) => log.push(m), warn: (m) => log.push(m) },
  });
  return { mesh, opened, owner, routes, log, fakeTunnel };
}

const target = (host: string, p: number) => ({ host, port: p, addrType: 3 }) as SocksTarget;
const dial = (mesh: ReturnType<typeof setup>["mesh"], p: number, caller?: MeshCaller, host = "svc.example") => mesh.dial(target(host, p), "192.0.2.1", caller);

describe("meshAccessRefusal", () => {
  test("an empty or absent list is open to any caller, anonymous included", () => {
    expect(meshAccessRefusal({ ownerId: OWNER }, bob)).toBeUndefined();
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: [] }, undefined)).toBeUndefined();
  });

  test("by tunnel id, by user name (any case) or user id; the owner always", () => {
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: [`tunnel:${B}`] }, bob)).toBeUndefined();
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: ["user:Bob@Example.com"] }, bob)).toBeUndefined();
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: [`user:${BOB_ID}`] }, bob)).toBeUndefined();
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: [`tunnel:${B}`] }, { tunnelId: OWNER, userId: null })).toBeUndefined();
  });

  test("anyone else is refused with a reason naming the caller", () => {
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: [`tunnel:${B}`, "user:bob@example.com"] }, carol)).toBe(
      `tunnel ${C} (user carol) is not in the service's mesh access list`,
    );
    // A tunnel without a user never matches a user entry, even one spelled like an empty name.
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: ["user:"] }, { tunnelId: C, userId: null })).toBeDefined();
    expect(meshAccessRefusal({ ownerId: OWNER, meshAllow: [`tunnel:${B}`] }, undefined)).toBeDefined();
  });

  test("a private service needs a caller (a tunnel or a token login)", () => {
    expect(meshAccessRefusal({ ownerId: OWNER, private: true }, undefined)).toContain("private");
    expect(meshAccessRefusal({ ownerId: OWNER, private: true }, carol)).toBeUndefined();
  });
});

describe("mesh resolver with access lists", () => {
  test("a port without a list: any tunnel, and anonymous SOCKS, as before", async () => {
    const { mesh } = setup();
    expect((await dial(mesh, 23000, carol)).ok).toBe(true);
    expect((await dial(mesh, 23000)).ok).toBe(true);
  });

  test("a port for tunnel B: B connects, C and anonymous callers get 0x02", async () => {
    const { mesh, opened, log } = setup();
    expect((await dial(mesh, 23001, bob)).ok).toBe(true);
    expect(opened).toHaveLength(1);
    expect(await dial(mesh, 23001, carol)).toMatchObject({ ok: false, reply: 0x02 });
    expect(await dial(mesh, 23001)).toMatchObject({ ok: false, reply: 0x02 });
    expect(opened).toHaveLength(1);
    expect(log.join("\n")).toContain(`SOCKS dial svc.example:23001 from 192.0.2.1 refused: port 23001: tunnel ${C} (user carol) is not in the service's mesh access list`);
  });

  test("a port for user bob: bob's tunnel connects, carol's is refused", async () => {
    const { mesh } = setup();
    expect((await dial(mesh, 23002, bob)).ok).toBe(true);
    expect(await dial(mesh, 23002, carol)).toMatchObject({ ok: false, reply: 0x02 });
  });

  test("an HTTP rule's list applies on 80 and 443", async () => {
    const { mesh } = setup();
    expect((await dial(mesh, 80, bob, "team.test")).ok).toBe(true);
    expect(await dial(mesh, 443, carol, "team.test")).toMatchObject({ ok: false, reply: 0x02 });
    expect((await dial(mesh, 80, carol, "open.test")).ok).toBe(true);
  });

  test("private ports: reachable by tunnels and token logins (within the list), never anonymously", async () => {
    const { mesh } = setup();
    expect((await dial(mesh, 23003, carol)).ok).toBe(true);
    expect(await dial(mesh, 23003)).toMatchObject({ ok: false, reply: 0x02 });
    expect((await dial(mesh, 23004, bob)).ok).toBe(true);
    expect(await dial(mesh, 23004, carol)).toMatchObject({ ok: false, reply: 0x02 });
  });

  test("a mesh stream carries the calling tunnel's id and user: status 0 for B, 0x02 for C", async () => {
    const { mesh, fakeTunnel, log } = setup();
    const fromB = new FakeConnection();
    mesh.serveStream(fakeTunnel(B), fromB, { t: "dial", h: "redis", p: 23004 });
    await waitFor(() => fromB.written.length > 0, "B's status byte");
    expect(fromB.bytes()).toEqual(Uint8Array.of(0));

    const fromC = new FakeConnection();
    mesh.serveStream(fakeTunnel(C, "carol"), fromC, { t: "dial", h: "redis", p: 23004 });
    await waitFor(() => fromC.written.length > 0, "C's status byte");
    expect(fromC.bytes()).toEqual(Uint8Array.of(0x02));
    expect(fromC.ended).toBe(true);
    expect(log.join("\n")).toContain(`mesh dial redis:23004 from tunnel ${C} refused: port 23004: tunnel ${C} (user carol) is not in the service's mesh access list`);

    // By user: a tunnel of bob (by name, as its login carries it) reaches 23002.
    const fromBob = new FakeConnection();
    mesh.serveStream(fakeTunnel(C, "bob@example.com"), fromBob, { t: "dial", h: "x", p: 23002 });
    await waitFor(() => fromBob.written.length > 0, "bob's status byte");
    expect(fromBob.bytes()).toEqual(Uint8Array.of(0));
  });
});

describe("routing table and private ports", () => {
  test("a private port is routed for the mesh but gets no public listener", () => {
    const { routes } = setup();
    expect(routes.opened.sort()).toEqual([23000, 23001, 23002]);
    expect(routes.closed).toEqual([]);
  });

  test("switching a port to private closes its listener; back to public opens it", () => {
    const registry = createTunnelRegistry<LiveTunnel>();
    const t = { tunnelId: OWNER, userId: null, online: true } as unknown as LiveTunnel;
    registry.add(t);
    expect(registry.setRoutes(t, [], [port(23000)])).toEqual({ opened: [23000], closed: [] });
    expect(registry.setRoutes(t, [], [port(23000, { private: true })])).toEqual({ opened: [], closed: [23000] });
    expect(registry.port(23000)?.rule.private).toBe(true);
    expect(registry.setRoutes(t, [], [port(23000)])).toEqual({ opened: [23000], closed: [] });
    // Going offline closes only listeners that exist.
    registry.setRoutes(t, [], [port(23000, { private: true })]);
    expect(registry.setRoutes(t, [], [])).toEqual({ opened: [], closed: [] });
  });
});
