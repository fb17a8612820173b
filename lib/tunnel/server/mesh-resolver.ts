// The server's mesh resolver: where a SOCKS CONNECT or a client's `dial` stream may go.
// The same policy serves the public SOCKS listeners and the internal mesh (ports map,
// a client's local SOCKS proxy): the allow-list first, then services behind online
// tunnels, else refused (SPEC 2.3 "SOCKS5 server").
import type { Logger } from "../../log.ts";
import type { DuplexConnection } from "../../net/connection.ts";
import { createAllowList, type AllowList } from "../../socks/allow-list.ts";
import { createSocksDialer } from "../../socks/dialer.ts";
import type { DialResult, SocksTarget } from "../../socks/handshake.ts";
import { pipe } from "../../net/pipe.ts";
import { Reply } from "../../socks/protocol.ts";
import type { TrafficStats } from "../../stats/traffic-stats.ts";
import type { ClientStreamMeta } from "../messages.ts";
import { MESH_OK } from "../mesh-status.ts";
import { firewallFor } from "../../edge/http-router.ts";
import { meshAccessRefusal, type MeshCaller } from "./mesh-access.ts";
import type { LiveTunnel } from "./server.ts";
import type { RoutedTunnel, RouteTable } from "./registry.ts";

export interface MeshRoute {
  tunnel: RoutedTunnel;
  /** The service as the stats name it: a domain or a port number. */
  service: string;
}

/**
 * Who asks: `remote` goes into the stream metadata and logs, `address` is checked by the
 * service's firewall, `caller` by its mesh access list (undefined: an anonymous SOCKS client).
 */
export interface MeshSource {
  remote: string;
  address: string;
  caller?: MeshCaller;
}

/** A service that exists but refuses this caller: answered 0x02 with the reason in the log. */
interface MeshRefusal {
  refused: string;
}

export interface MeshResolver {
  /**
   * The `dial` of a SOCKS listener: `from` is the SOCKS client's address, `caller` the
   * tunnel of the auth token it logged in with (undefined for auth "none").
   */
  dial(target: SocksTarget, from: string, caller?: MeshCaller): Promise<DialResult>;
  /** Serves a stream a client opened with `dial` metadata: status byte, then the pipe. */
  serveStream(from: LiveTunnel, stream: DuplexConnection, meta: ClientStreamMeta): void;
}

export interface MeshResolverOptions {
  /** The tunnels' services: the registry, or a cluster node's composite table. */
  routes: RouteTable;
  stats: TrafficStats;
  /** Read per request, so settings changes apply without a restart. */
  allow(): string[];
  /**
   * `socks.enabled`, read per request: when false, mesh streams are refused with 0x02
   * (SPEC 3 "Mesh (needs the server's SOCKS server enabled)").
   */
  enabled(): boolean;
  /**
   * Addresses protected like loopback (the server's own interface addresses): reachable
   * only through an allow-list entry that names them, never through a broad range.
   */
  protectedAddresses?: readonly string[];
  log: Logger;
}

export function createMeshResolver(opts: MeshResolverOptions): MeshResolver {
  const protectedAddresses = opts.protectedAddresses ?? [];
  let cached: { key: string; list: AllowList } | undefined;
  const allowList = (): AllowList => {
    const entries = opts.allow();
    const key = entries.join("\n");
    if (cached?.key !== key) {
      try {
        cached = { key, list: createAllowList(entries, { protectedAddresses }) };
      } catch (err) {
        opts.log.warn(`SOCKS allow-list ignored: ${err instanceof Error ? err.message : err}`);
        cached = { key, list: createAllowList([], { protectedAddresses }) };
      }
    }
    return cached.list;
  };

  // A service behind a tunnel keeps its own firewall: the rule's allow/drop list sees the
  // SOCKS client's address (or the asking tunnel's), as a public visitor's would be. Its
  // mesh access list sees the asking tunnel (or the SOCKS login's).
  const findService = (host: string, port: number, source: MeshSource): MeshRoute | MeshRefusal | null => {
    const byPort = opts.routes.port(port);
    if (byPort?.tunnel.online) {
      if (!firewallFor(byPort.rule.firewall).allows(source.address)) return null;
      const refused = meshAccessRefusal({ ownerId: byPort.tunnel.tunnelId, ...byPort.rule }, source.caller);
      return refused ? { refused: `port ${port}: ${refused}` } : { tunnel: byPort.tunnel, service: String(port) };
    }
    if (port === 80 || port === 443) {
      const byHost = opts.routes.http(host);
      // A mesh connection reaches the upstream as it is, past the server's HTTP router: a
      // site that asks the router for Basic auth is not offered that way.
      if (byHost?.tunnel.online && !byHost.rule.basicHttpAuth && firewallFor(byHost.rule.firewall).allows(source.address)) {
        const refused = meshAccessRefusal({ ownerId: byHost.tunnel.tunnelId, meshAllow: byHost.rule.meshAllow }, source.caller);
        return refused ? { refused: `${byHost.rule.domain}: ${refused}` } : { tunnel: byHost.tunnel, service: byHost.rule.domain };
      }
    }
    return null;
  };

  // Which tunnel service a dialled stream reaches, so its bytes count for that tunnel too.
  const routes = new WeakMap<DuplexConnection, MeshRoute>();

  const dialerFor = (source: MeshSource) =>
    createSocksDialer<MeshRoute | MeshRefusal>({
      allowList,
      isTunnelService: ({ host, port }) => findService(host, port, source),
      dialTunnel: async (route, target) => {
        if ("refused" in route) {
          // Mesh refusals are logged by serveStream; a public SOCKS client's here.
          if (!source.remote.startsWith("mesh:")) opts.log.info(`SOCKS dial ${target.host}:${target.port} from ${source.remote} refused: ${route.refused}`, { tunnel: source.caller?.tunnelId ?? "", service: `${target.host}:${target.port}` });
          return { ok: false, reply: Reply.NOT_ALLOWED, reason: route.refused };
        }
        let stream: DuplexConnection;
        try {
          stream = route.tunnel.openStream({ t: "svc", h: target.host, p: target.port, r: source.remote });
        } catch {
          return { ok: false, reply: Reply.HOST_UNREACHABLE, reason: `tunnel ${route.tunnel.tunnelId} unavailable` };
        }
        routes.set(stream, route);
        return { ok: true, connection: stream };
      },
    });

  return {
    dial: (target, from, caller) => dialerFor({ remote: from, address: from, caller })(target),
    serveStream(from, stream, meta) {
      stream.pause();
      const source: MeshSource = {
        remote: `mesh:${from.tunnelId}`,
        address: from.address,
        caller: { tunnelId: from.tunnelId, userId: from.userId, userName: from.login.userName },
      };
      const refuse = (reply: number, reason: string) => {
        opts.log.info(`mesh dial ${meta.h}:${meta.p} from tunnel ${from.tunnelId} refused: ${reason}`, { tunnel: from.tunnelId, service: `${meta.h}:${meta.p}` });
        stream.write(Uint8Array.of(reply));
        stream.end();
        stream.resume();
      };
      if (!opts.enabled()) return refuse(Reply.NOT_ALLOWED, "the SOCKS server (socks.enabled) is off");
      void dialerFor(source)({ host: meta.h, port: meta.p } as SocksTarget).then((r) => {
        if (!r.ok) return refuse(r.reply, r.reason ?? String(r.reply));
        stream.write(Uint8Array.of(MESH_OK));
        const started = Date.now();
        void pipe(stream, r.connection).then((p) => {
          // A mesh dial to another tunnel's port also counts for the tunnel that served it.
          const route = routes.get(r.connection);
          if (route) opts.stats.add(route.tunnel.tunnelId, route.service, p.bytesAtoB, p.bytesBtoA);
          opts.stats.recordConnection({ tunnelId: from.tunnelId, service: `${meta.h}:${meta.p}`, protocol: "mesh", remoteAddress: source.remote, bytesIn: p.bytesAtoB, bytesOut: p.bytesBtoA, started });
        });
      });
    },
  };
}
