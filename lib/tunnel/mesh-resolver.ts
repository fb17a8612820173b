// The server's mesh resolver: where a SOCKS CONNECT or a client's `dial` stream may go.
// The same policy serves the public SOCKS listeners and the internal mesh (ports map,
// a client's local SOCKS proxy): the allow-list first, then services behind online
// tunnels, else refused (SPEC 2.3 "SOCKS5 server").
import type { DuplexConnection } from "../socks/connection.ts";
import { createAllowList, type AllowList } from "../socks/allow-list.ts";
import { createSocksDialer } from "../socks/dialer.ts";
import type { DialResult, SocksTarget } from "../socks/handshake.ts";
import { pipe } from "../socks/pipe.ts";
import type { TrafficStats } from "../stats/traffic-stats.ts";
import type { ClientStreamMeta } from "./messages.ts";
import { MESH_OK } from "./mesh-status.ts";
import { normalizeHost } from "./registry.ts";
import type { LiveTunnel, TunnelServer } from "./server.ts";

export interface MeshRoute {
  tunnel: LiveTunnel;
  /** The service as the stats name it: a domain or a port number. */
  service: string;
}

export interface MeshResolver {
  /** The `dial` of a SOCKS listener (and of mesh streams). */
  dial(target: SocksTarget, from: string): Promise<DialResult>;
  /** Serves a stream a client opened with `dial` metadata: status byte, then the pipe. */
  serveStream(from: LiveTunnel, stream: DuplexConnection, meta: ClientStreamMeta): void;
}

export function createMeshResolver(opts: {
  tunnels: TunnelServer;
  stats: TrafficStats;
  /** Read per request, so settings changes apply without a restart. */
  allow(): string[];
  log: { info(msg: string): void; warn(msg: string): void };
}): MeshResolver {
  let cached: { key: string; list: AllowList } | undefined;
  const allowList = (): AllowList => {
    const entries = opts.allow();
    const key = entries.join("\n");
    if (cached?.key !== key) {
      try {
        cached = { key, list: createAllowList(entries) };
      } catch (err) {
        opts.log.warn(`SOCKS allow-list ignored: ${err instanceof Error ? err.message : err}`);
        cached = { key, list: createAllowList([]) };
      }
    }
    return cached.list;
  };

  const findService = (host: string, port: number): MeshRoute | null => {
    const byPort = opts.tunnels.registry.port(port);
    if (byPort?.tunnel.online) return { tunnel: byPort.tunnel, service: String(port) };
    if (port === 80 || port === 443) {
      const byHost = opts.tunnels.registry.http(normalizeHost(host));
      if (byHost?.tunnel.online) return { tunnel: byHost.tunnel, service: byHost.rule.domain };
    }
    return null;
  };

  const dialers = new Map<string, (t: SocksTarget) => Promise<DialResult>>();
  const dialerFor = (from: string) => {
    let d = dialers.get(from);
    if (!d) {
      d = createSocksDialer<MeshRoute>({
        allowList,
        isTunnelService: ({ host, port }) => findService(host, port),
        dialTunnel: async (route, target) => {
          try {
            const stream = route.tunnel.openStream({ t: "svc", h: target.host, p: target.port, r: from });
            return { ok: true, connection: stream as unknown as DuplexConnection };
          } catch (err) {
            return { ok: false, reply: 0x04, reason: `tunnel ${route.tunnel.tunnelId} unavailable` };
          }
        },
      });
      // One dialer per source is plenty; keep the map from growing without bound.
      if (dialers.size > 1000) dialers.clear();
      dialers.set(from, d);
    }
    return d;
  };

  return {
    dial: (target, from) => dialerFor(from)(target),
    serveStream(from, stream, meta) {
      stream.pause();
      const source = `mesh:${from.tunnelId}`;
      void dialerFor(source)({ host: meta.h, port: meta.p } as SocksTarget).then((r) => {
        if (!r.ok) {
          opts.log.info(`mesh dial ${meta.h}:${meta.p} from tunnel ${from.tunnelId} refused: ${r.reason ?? r.reply}`);
          stream.write(Uint8Array.of(r.reply));
          stream.end();
          stream.resume();
          return;
        }
        stream.write(Uint8Array.of(MESH_OK));
        const started = Date.now();
        void pipe(stream, r.connection).then((p) => {
          opts.stats.add(from.tunnelId, "mesh", p.bytesBtoA, p.bytesAtoB);
          opts.stats.recordConnection({
            tunnelId: from.tunnelId,
            service: `${meta.h}:${meta.p}`,
            protocol: "mesh",
            remoteAddress: source,
            bytesIn: p.bytesAtoB,
            bytesOut: p.bytesBtoA,
            started,
            durationMs: Date.now() - started,
          });
        });
      });
    },
  };
}
