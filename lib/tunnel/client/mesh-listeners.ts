// The client's local mesh entry points on 127.0.0.1: `ports map` listeners and the local
// SOCKS5 listener (`proxies socks listen`). Each connection becomes a mesh stream that
// the server resolves (SOCKS rules: allow-list, then services behind online tunnels).
import type { TCPSocketListener } from "bun";
import type { ClientConfig } from "../../client-config/types.ts";
import { bunSocketHandlers, type BunSocketConnection, type DuplexConnection, type ConnectionSlot } from "../../net/connection.ts";
import { pipe } from "../../net/pipe.ts";
import { createSocksListener } from "../../socks/listener.ts";
import { replyText } from "../../socks/protocol.ts";
import { MESH_OK, readMeshStatus } from "../mesh-status.ts";

export interface MeshListeners {
  /** Opens, keeps or closes listeners to match the configuration's portmaps and socks port. */
  apply(config: ClientConfig): void;
  closeAll(): void;
}

export interface MeshListenerOptions {
  /** Opens a mesh stream to host:port, or undefined while the tunnel is offline. */
  open(host: string, port: number): DuplexConnection | undefined;
  log: { warn(msg: string): void; info(msg: string): void };
}

type Slot = ConnectionSlot;

/**
 * Why 127.0.0.1:port cannot be listened on right now (another program holds it, or it
 * needs privileges), or undefined when it is free. `ports map` and `proxies socks listen`
 * ask before saving, so the mistake shows at the command instead of only in the log of
 * a running client.
 */
export function localPortProblem(port: number): string | undefined {
  try {
    Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE") return `local port ${port} is already in use on 127.0.0.1 by another program`;
    if (code === "EACCES") return `local port ${port} needs privileges to listen on (choose a port above 1023)`;
    return `cannot listen on 127.0.0.1:${port}: ${err instanceof Error ? err.message : err}`;
  }
}

export function createMeshListeners(opts: MeshListenerOptions): MeshListeners {
  const maps = new Map<number, { key: string; listener: TCPSocketListener<Slot> }>();
  let socks: { port: number; stop(): void } | undefined;

  const dial = async (host: string, port: number) => {
    const stream = opts.open(host, port);
    if (!stream) return { ok: false as const, reply: 0x03, reason: "tunnel offline" };
    const status = await readMeshStatus(stream);
    if (status.reply !== MESH_OK) {
      stream.reset();
      const code = `0x${status.reply.toString(16).padStart(2, "0")}`;
      return { ok: false as const, reply: status.reply, reason: `server refused ${host}:${port}: ${replyText(status.reply)} (reply ${code})` };
    }
    return { ok: true as const, connection: stream, rest: status.rest };
  };

  const openMap = (listenPort: number, host: string, dstPort: number) =>
    Bun.listen<Slot>({
      hostname: "127.0.0.1",
      port: listenPort,
      allowHalfOpen: true,
      data: {},
      socket: bunSocketHandlers<Slot>((local, socket) => {
        socket.setNoDelay(true);
        void dial(host, dstPort).then((r) => {
          if (!r.ok) {
            opts.log.warn(`port map ${listenPort} → ${host}:${dstPort}: ${r.reason}`);
            return local.reset();
          }
          if (r.rest.length) local.write(r.rest);
          void pipe(local, r.connection);
        });
      }),
    });

  return {
    apply(config) {
      const wanted = new Map(config.portmaps.map((m) => [m.listenPort, m]));
      for (const [port, entry] of maps) {
        const m = wanted.get(port);
        if (!m || `${m.destination}:${m.dstPort}` !== entry.key) {
          entry.listener.stop(true);
          maps.delete(port);
        }
      }
      for (const [port, m] of wanted) {
        if (maps.has(port)) continue;
        try {
          maps.set(port, { key: `${m.destination}:${m.dstPort}`, listener: openMap(port, m.destination, m.dstPort) });
          opts.log.info(`port map 127.0.0.1:${port} → ${m.destination}:${m.dstPort}`);
        } catch (err) {
          opts.log.warn(`cannot listen on 127.0.0.1:${port} for the port map to ${m.destination}:${m.dstPort}: ${err instanceof Error ? err.message : err}`);
        }
      }
      const socksPort = config.socks?.listenPort ?? 0;
      if (socks && socks.port !== socksPort) {
        socks.stop();
        socks = undefined;
      }
      if (socksPort && !socks) {
        try {
          const listener = createSocksListener({
            hostname: "127.0.0.1",
            port: socksPort,
            auth: "none",
            dial: async (target) => {
              const r = await dial(target.host, target.port);
              if (!r.ok) return { ok: false, reply: r.reply, reason: r.reason };
              return { ok: true, connection: r.connection, initialBtoA: r.rest };
            },
          });
          socks = { port: socksPort, stop: () => listener.stop(true) };
          opts.log.info(`SOCKS5 proxy on 127.0.0.1:${socksPort}`);
        } catch (err) {
          opts.log.warn(`cannot listen on 127.0.0.1:${socksPort} for the SOCKS proxy: ${err instanceof Error ? err.message : err}`);
        }
      }
    },
    closeAll() {
      for (const e of maps.values()) e.listener.stop(true);
      maps.clear();
      socks?.stop();
      socks = undefined;
    },
  };
}
