// A TLS connection to an upstream that speaks HTTPS (`--tls PORT` rules).
import type { Socket } from "bun";
import { bunSocketHandlers, type BunSocketConnection } from "../socks/connection.ts";

interface Slot {
  connection?: BunSocketConnection;
}

export async function dialTls(
  host: string,
  port: number,
  tls: { rejectUnauthorized: boolean; serverName?: string },
): Promise<BunSocketConnection | undefined> {
  try {
    const socket = (await Bun.connect<Slot>({
      hostname: host,
      port,
      allowHalfOpen: true,
      data: {},
      tls: { rejectUnauthorized: tls.rejectUnauthorized, serverName: tls.serverName },
      socket: { ...bunSocketHandlers<Slot>((_c, s) => s.setNoDelay(true)), connectError() {} },
    })) as Socket<Slot>;
    return socket.data.connection;
  } catch {
    return undefined;
  }
}
