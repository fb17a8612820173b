// Listeners for allocated TCP ports: opened while a tunnel with a forward for the port
// is online, closed when it goes away (a connection to a closed port is refused, which
// is what SPEC 2.3 asks for a port with no online tunnel or no forward).
import type { TCPSocketListener } from "bun";
import { BunSocketConnection, bunSocketHandlers, type ConnectionSlot } from "../net/connection.ts";

export interface TcpPortListeners {
  /** Opens listeners for `ports` not open yet; returns the ones that failed with why. */
  open(ports: number[]): { port: number; error: string }[];
  close(ports: number[]): void;
  isOpen(port: number): boolean;
  closeAll(): void;
}

type Slot = ConnectionSlot;

export function createTcpPortListeners(opts: {
  hostname: string;
  onConnection(port: number, connection: BunSocketConnection, remote: string): void;
}): TcpPortListeners {
  const listeners = new Map<number, TCPSocketListener<Slot>>();
  return {
    open(ports) {
      const failed: { port: number; error: string }[] = [];
      for (const port of ports) {
        if (listeners.has(port)) continue;
        try {
          const handlers = bunSocketHandlers<Slot>((connection, socket) => {
            socket.setNoDelay(true);
            opts.onConnection(port, connection, socket.remoteAddress);
          });
          listeners.set(port, Bun.listen<Slot>({ hostname: opts.hostname, port, allowHalfOpen: true, data: {}, socket: handlers }));
        } catch (err) {
          failed.push({ port, error: err instanceof Error ? err.message : String(err) });
        }
      }
      return failed;
    },
    close(ports) {
      for (const port of ports) {
        listeners.get(port)?.stop(true);
        listeners.delete(port);
      }
    },
    isOpen: (port) => listeners.has(port),
    closeAll() {
      for (const l of listeners.values()) l.stop(true);
      listeners.clear();
    },
  };
}
