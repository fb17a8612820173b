// Which TCP port listeners a node keeps open: the union of its own tunnels' forwarded,
// non-private ports (deltas from the tunnel server) and the other nodes' (the full set,
// from each sync). A port moving between the two sides stays open: closing a listener
// also closes the connections it accepted.

export interface ListenerPorts {
  /** The local tunnels' listener ports changed (the tunnel server's portsChanged hook). */
  localChanged(opened: number[], closed: number[]): void;
  /** The remote tunnels' listener ports are now exactly these. */
  setRemote(ports: ReadonlySet<number>): void;
}

export function createListenerPorts(apply: (opened: number[], closed: number[]) => void): ListenerPorts {
  const local = new Set<number>();
  let remote: ReadonlySet<number> = new Set();
  const open = new Set<number>();
  const reconcile = () => {
    const closed: number[] = [];
    for (const p of open) if (!local.has(p) && !remote.has(p)) closed.push(p);
    for (const p of closed) open.delete(p);
    const opened: number[] = [];
    for (const p of [...local, ...remote]) {
      if (open.has(p)) continue;
      open.add(p);
      opened.push(p);
    }
    if (opened.length || closed.length) apply(opened, closed);
  };
  return {
    localChanged(opened, closed) {
      for (const p of closed) local.delete(p);
      for (const p of opened) local.add(p);
      reconcile();
    },
    setRemote(ports) {
      remote = new Set(ports);
      reconcile();
    },
  };
}
