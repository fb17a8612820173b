import { describe, expect, test } from "bun:test";
import { createAllowList } from "../../../lib/socks/allow-list.ts";
import { createSocksDialer } from "../../../lib/socks/dialer.ts";
import { AddrType } from "../../../lib/socks/protocol.ts";
import { type DestinationRequest, resolveDestination } from "../../../lib/socks/resolve.ts";
import { FakeConnection } from "./fake-connection.ts";

/** A lookup that answers from a table (each call shifts the next answer) and counts calls. */
function fakeDns(table: Record<string, string[] | string[][] | Error>) {
  const calls: string[] = [];
  const seen = new Map<string, number>();
  const lookup = async (name: string) => {
    calls.push(name);
    const entry = table[name];
    if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    if (entry instanceof Error) throw entry;
    if (Array.isArray(entry[0])) {
      const n = seen.get(name) ?? 0;
      seen.set(name, n + 1);
      return (entry as string[][])[Math.min(n, entry.length - 1)];
    }
    return entry as string[];
  };
  return { lookup, calls };
}

const allowList = createAllowList(["172.16.0.0/24", "fd00::/8", "internal-app-a.srv.local", "*.srv.local"]);

interface Route {
  tunnel: string;
}
/** Online tunnel services: HTTP rule hostnames on 80/443, allocated TCP port 22001 for any host. */
const tunnels = (t: DestinationRequest): Route | null => {
  if (t.port === 22001) return { tunnel: "tun-port" };
  if (t.host === "app.tunnel.example" && (t.port === 80 || t.port === 443)) return { tunnel: "tun-http" };
  return null;
};

describe("resolveDestination", () => {
  test("an IP literal in an allowed CIDR is direct, without DNS", async () => {
    const dns = fakeDns({});
    const d = await resolveDestination({ host: "172.16.0.10", port: 5432 }, { allowList, lookup: dns.lookup, isTunnelService: tunnels });
    expect(d).toEqual({ kind: "direct", host: "172.16.0.10", port: 5432, entry: "172.16.0.0/24" });
    expect(dns.calls).toEqual([]);
  });

  test("IPv4-mapped IPv6 literal is dialled as the IPv4 address it was checked as", async () => {
    const d = await resolveDestination({ host: "::ffff:172.16.0.10", port: 1 }, { allowList });
    expect(d).toMatchObject({ kind: "direct", host: "172.16.0.10" });
  });

  test("an IPv6 literal in fd00::/8", async () => {
    const d = await resolveDestination({ host: "FD00::0001", port: 22 }, { allowList });
    expect(d).toMatchObject({ kind: "direct", host: "fd00::1", entry: "fd00::/8" });
  });

  test("a hostname that resolves into an allowed CIDR: dial the checked address", async () => {
    const dns = fakeDns({ "db.corp.example": ["192.0.2.1", "172.16.0.33"] });
    const d = await resolveDestination({ host: "DB.corp.example.", port: 5432 }, { allowList, lookup: dns.lookup });
    expect(d).toEqual({ kind: "direct", host: "172.16.0.33", port: 5432, entry: "172.16.0.0/24", hostname: "db.corp.example" });
    expect(dns.calls).toEqual(["db.corp.example"]);
  });

  test("a hostname that resolves outside every CIDR is refused with 0x02", async () => {
    const dns = fakeDns({ "public.example": ["192.0.2.1"] });
    const d = await resolveDestination({ host: "public.example", port: 443 }, { allowList, lookup: dns.lookup, isTunnelService: tunnels });
    expect(d).toMatchObject({ kind: "refused", reply: 0x02 });
  });

  test("DNS rebinding: one lookup, and the dialled address is the checked one", async () => {
    // First answer is inside the allow-list, a second one would be loopback.
    const dns = fakeDns({ "rebind.attacker.example": [["172.16.0.7"], ["127.0.0.1"]] });
    const opts = { allowList, lookup: dns.lookup };
    const d = await resolveDestination({ host: "rebind.attacker.example", port: 80 }, opts);
    expect(d).toMatchObject({ kind: "direct", host: "172.16.0.7" });
    expect(dns.calls).toHaveLength(1);

    // Through the dialer too: dialDirect receives the IP, never the name.
    const dialled: string[] = [];
    const dial = createSocksDialer({
      allowList,
      lookup: fakeDns({ "rebind.attacker.example": [["172.16.0.7"], ["127.0.0.1"]] }).lookup,
      dialDirect: async (host) => {
        dialled.push(host);
        return { ok: true, connection: new FakeConnection() };
      },
    });
    const r = await dial({ host: "rebind.attacker.example", port: 80, addrType: AddrType.DOMAIN });
    expect(r.ok).toBe(true);
    expect(dialled).toEqual(["172.16.0.7"]);
  });

  test("a name entry admits its addresses, except protected ones", async () => {
    const dns = fakeDns({ "internal-app-a.srv.local": ["127.0.0.1", "10.50.0.8"], "x.srv.local": ["127.0.0.1"] });
    const a = await resolveDestination({ host: "internal-app-a.srv.local", port: 443 }, { allowList, lookup: dns.lookup });
    expect(a).toEqual({ kind: "direct", host: "10.50.0.8", port: 443, entry: "internal-app-a.srv.local", hostname: "internal-app-a.srv.local" });
    const b = await resolveDestination({ host: "x.srv.local", port: 443 }, { allowList, lookup: dns.lookup });
    expect(b).toMatchObject({ kind: "refused", reply: 0x02, reason: "x.srv.local resolves only to protected addresses" });
  });

  test("a wildcard-matched name that does not resolve gives 0x04", async () => {
    const d = await resolveDestination({ host: "gone.srv.local", port: 80 }, { allowList, lookup: fakeDns({}).lookup });
    expect(d).toMatchObject({ kind: "refused", reply: 0x04 });
  });

  test("no DNS query at all when nothing could match by address", async () => {
    const dns = fakeDns({ "app.tunnel.example": ["192.0.2.9"] });
    const namesOnly = createAllowList(["*.srv.local"]);
    const d = await resolveDestination({ host: "app.tunnel.example", port: 443 }, { allowList: namesOnly, lookup: dns.lookup, isTunnelService: tunnels });
    expect(d).toEqual({ kind: "tunnel", host: "app.tunnel.example", port: 443, route: { tunnel: "tun-http" } });
    expect(dns.calls).toEqual([]);
  });

  test("an HTTP rule hostname is a tunnel service on 80/443 only", async () => {
    const opts = { allowList, lookup: fakeDns({}).lookup, isTunnelService: tunnels };
    expect(await resolveDestination({ host: "app.tunnel.example", port: 80 }, opts)).toMatchObject({ kind: "tunnel" });
    expect(await resolveDestination({ host: "APP.tunnel.example.", port: 443 }, opts)).toMatchObject({ kind: "tunnel", host: "app.tunnel.example" });
    expect(await resolveDestination({ host: "app.tunnel.example", port: 8080 }, opts)).toMatchObject({ kind: "refused", reply: 0x02 });
  });

  test("an allocated TCP port is a tunnel service whatever the hostname", async () => {
    const opts = { allowList, lookup: fakeDns({}).lookup, isTunnelService: tunnels };
    expect(await resolveDestination({ host: "redis", port: 22001 }, opts)).toMatchObject({ kind: "tunnel", route: { tunnel: "tun-port" } });
    expect(await resolveDestination({ host: "10.99.0.1", port: 22001 }, opts)).toMatchObject({ kind: "tunnel" });
  });

  test("the allow-list is consulted before tunnels", async () => {
    const d = await resolveDestination({ host: "172.16.0.1", port: 22001 }, { allowList, isTunnelService: tunnels });
    expect(d.kind).toBe("direct");
  });

  test.each([
    ["127.0.0.1", 8080],
    ["::1", 22],
    ["0.0.0.0", 80],
    ["169.254.169.254", 80],
  ])("the server's own %s is refused by default, even with 0.0.0.0/0 ::/0", async (host, port) => {
    const broad = createAllowList(["0.0.0.0/0", "::/0"]);
    expect(await resolveDestination({ host, port }, { allowList: broad })).toMatchObject({ kind: "refused", reply: 0x02 });
  });

  test("a name that resolves to loopback is refused under 0.0.0.0/0", async () => {
    const broad = createAllowList(["0.0.0.0/0"]);
    const dns = fakeDns({ localhost: ["127.0.0.1"], "127.1": ["127.0.0.1"] });
    for (const host of ["localhost", "127.1"]) {
      expect(await resolveDestination({ host, port: 22 }, { allowList: broad, lookup: dns.lookup })).toMatchObject({ kind: "refused" });
    }
  });

  test("an explicit loopback entry opens it", async () => {
    const l = createAllowList(["127.0.0.1"]);
    expect(await resolveDestination({ host: "127.0.0.1", port: 9000 }, { allowList: l })).toMatchObject({ kind: "direct", host: "127.0.0.1" });
  });

  test.each([
    ["port 0", "172.16.0.1", 0, 0x02],
    ["garbage host", "a b", 80, 0x04],
    ["empty host", "", 80, 0x04],
  ])("%s is refused", async (_n, host, port, reply) => {
    expect(await resolveDestination({ host, port }, { allowList })).toMatchObject({ kind: "refused", reply });
  });
});

describe("createSocksDialer", () => {
  test("refusals become DialResult replies; tunnels go to dialTunnel", async () => {
    const tunnelDials: [Route, DestinationRequest][] = [];
    const decisions: string[] = [];
    let current = createAllowList([]);
    const dial = createSocksDialer<Route>({
      allowList: () => current,
      isTunnelService: tunnels,
      dialTunnel: async (route, target) => {
        tunnelDials.push([route, target]);
        return { ok: true, connection: new FakeConnection() };
      },
      dialDirect: async () => ({ ok: true, connection: new FakeConnection() }),
      onDecision: (_t, d) => decisions.push(d.kind),
    });
    expect(await dial({ host: "10.0.0.1", port: 80, addrType: AddrType.IPV4 })).toMatchObject({ ok: false, reply: 2 });
    expect((await dial({ host: "redis", port: 22001, addrType: AddrType.DOMAIN })).ok).toBe(true);
    expect(tunnelDials).toEqual([[{ tunnel: "tun-port" }, { host: "redis", port: 22001 }]]);
    // Settings change at run time: the next request sees the new list.
    current = createAllowList(["10.0.0.0/8"]);
    expect((await dial({ host: "10.0.0.1", port: 80, addrType: AddrType.IPV4 })).ok).toBe(true);
    expect(decisions).toEqual(["refused", "tunnel", "direct"]);
  });
});
