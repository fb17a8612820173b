// Cluster nodes in one process: a fake ClusterStore shared by every node, peer links over
// in-memory transports (each dial goes through the dialled node's real peer endpoint
// admission), and local "tunnels" whose client end is a mux session the test reads.
import { createMemoryTransportPair, type MemoryTransport } from "../../../lib/mux/memory-transport.ts";
import { createMuxSession, type KeepaliveOptions, type MuxSession } from "../../../lib/mux/session.ts";
import type { MuxStream } from "../../../lib/mux/stream.ts";
import { createClusterNode, type ClusterNodeEngine } from "../../../lib/cluster/cluster-node.ts";
import { createListenerPorts } from "../../../lib/cluster/listener-ports.ts";
import type { LiveControl } from "../../../lib/cluster/live-control.ts";
import type { PeerConnector } from "../../../lib/cluster/peer-links.ts";
import { CLUSTER_PEER_PATH, type ClusterNode, type ClusterStore, type TunnelLocation, type TunnelLocationStamp } from "../../../lib/cluster/types.ts";
import { decodeJson, encodeJson, type ServerStreamMeta } from "../../../lib/tunnel/messages.ts";
import { createTunnelRegistry, type TunnelRegistry } from "../../../lib/tunnel/server/registry.ts";
import { waitFor } from "../../helpers.ts";
import { FakeClock } from "../tunnel/fake-clock.ts";

export const SECRET = "s3cret-shared-by-every-node";

/** The store as H1's PostgreSQL one behaves, in memory; its clock is the test's. */
export class FakeClusterStore implements ClusterStore {
  now = 1_000_000;
  readonly nodes = new Map<string, ClusterNode>();
  readonly rows = new Map<string, TunnelLocation>();
  /** Ids each locations() call asked for (the sync must fetch only changed rows). */
  readonly fetched: string[][] = [];
  private tick = 0;
  failing = false;

  async heartbeat(node: Omit<ClusterNode, "heartbeatAt">): Promise<void> {
    this.nodes.set(node.nodeId, { ...node, heartbeatAt: this.now });
  }
  async liveNodes(maxAgeMs: number): Promise<ClusterNode[]> {
    if (this.failing) throw new Error("database unreachable");
    return [...this.nodes.values()].filter((n) => n.heartbeatAt > this.now - maxAgeMs);
  }
  async locationStamps(): Promise<TunnelLocationStamp[]> {
    if (this.failing) throw new Error("database unreachable");
    return [...this.rows.values()].map(({ tunnelId, nodeId, epoch, updatedAt }) => ({ tunnelId, nodeId, epoch, updatedAt }));
  }
  async locations(tunnelIds: string[]): Promise<TunnelLocation[]> {
    this.fetched.push([...tunnelIds]);
    return tunnelIds.flatMap((id) => (this.rows.has(id) ? [structuredClone(this.rows.get(id)!)] : []));
  }
  async saveLocation(location: Omit<TunnelLocation, "updatedAt">): Promise<void> {
    this.rows.set(location.tunnelId, { ...structuredClone(location), updatedAt: this.now + ++this.tick });
  }
  async clearLocation(tunnelId: string, nodeId: string, epoch: string): Promise<void> {
    const row = this.rows.get(tunnelId);
    if (row?.nodeId === nodeId && row.epoch === epoch) this.rows.delete(tunnelId);
  }
  async expireDeadNodes(maxAgeMs: number): Promise<number> {
    const live = new Set((await this.liveNodes(maxAgeMs)).map((n) => n.nodeId));
    let n = 0;
    for (const [id, row] of this.rows) if (!live.has(row.nodeId) && (this.rows.delete(id), true)) n++;
    return n;
  }
}

/** A tunnel's client end: every stream the server side opened, with its meta. */
export interface TunnelClientEnd {
  session: MuxSession;
  streams: { meta: ServerStreamMeta; stream: MuxStream }[];
  /** What to do with each new stream (default: collect it, reading nothing until the test sets ondata). */
  onStream?: (stream: MuxStream, meta: ServerStreamMeta) => void;
}

/** A local tunnel as the cluster engine sees the server's LiveTunnel. */
export class FakeLiveTunnel {
  online = true;
  readonly server: MuxSession;
  readonly client: TunnelClientEnd;

  constructor(
    readonly tunnelId: string,
    readonly session: string,
    readonly userId: string | null = null,
  ) {
    const [ct, st] = createMemoryTransportPair();
    const client: TunnelClientEnd = { session: undefined as never, streams: [] };
    client.session = createMuxSession({
      transport: ct,
      side: "client",
      keepalive: false,
      onStream: (stream, meta) => {
        const m = decodeJson<ServerStreamMeta>(meta)!;
        client.streams.push({ meta: m, stream });
        client.onStream?.(stream, m);
      },
    });
    this.client = client;
    this.server = createMuxSession({ transport: st, side: "server", keepalive: false });
  }

  openStream(meta: ServerStreamMeta): MuxStream {
    return this.server.openStream(encodeJson(meta));
  }
}

export interface TestNode {
  id: string;
  engine: ClusterNodeEngine;
  registry: TunnelRegistry<FakeLiveTunnel>;
  clock: FakeClock;
  /** Listener ports as the edge would have them open. */
  listening: Set<number>;
  disconnected: { tunnelId: string; reason: string }[];
  logs: string[];
  /** Client ends of the links this node dialled, by node id (latest first). */
  dialled: Map<string, MemoryTransport>;
  /** Makes a local tunnel live here (and routes its rules, as the tunnel server does). */
  addTunnel(t: FakeLiveTunnel, rules?: Pick<TunnelLocation, "https" | "ports">): void;
}

export interface NodeOptions {
  secret?: string;
  keepalive?: KeepaliveOptions;
  /** The node's own admin control of its tunnels (answers other nodes' requests). */
  live?: LiveControl;
}

export interface TestCluster {
  store: FakeClusterStore;
  nodes: Map<string, TestNode>;
  node(id: string, opts?: NodeOptions): TestNode;
  /** Heartbeats for the given nodes (default all), then one sync on each. */
  syncAll(ids?: string[]): Promise<void>;
}

export function startCluster(): TestCluster {
  const store = new FakeClusterStore();
  const nodes = new Map<string, TestNode>();

  const node = (id: string, opts: NodeOptions = {}): TestNode => {
    const clock = new FakeClock();
    const registry = createTunnelRegistry<FakeLiveTunnel>();
    const listening = new Set<number>();
    const disconnected: TestNode["disconnected"] = [];
    const logs: string[] = [];
    const dialled = new Map<string, MemoryTransport>();
    const ports = createListenerPorts((opened, closed) => {
      for (const p of closed) listening.delete(p);
      for (const p of opened) listening.add(p);
    });
    // Every dial goes through the dialled node's peer endpoint, as a real upgrade would.
    const connect: PeerConnector = async (target) => {
      const peer = nodes.get(target.nodeId);
      if (!peer) throw new Error(`cannot connect to ${target.advertise}: connection refused`);
      const headers: Record<string, string> = { upgrade: "websocket", authorization: `Bearer ${opts.secret ?? SECRET}`, "x-spokes-node": id };
      const admission = peer.engine.endpoint.admit({ url: new URL(`https://${target.advertise}${CLUSTER_PEER_PATH}`), header: (n) => headers[n.toLowerCase()] }, `10.0.0.${id.charCodeAt(0)}`);
      if (!admission) throw new Error("not the peer endpoint");
      if ("refuse" in admission) throw new Error(`cannot connect to ${target.advertise}: ${admission.refuse.status}`);
      const [mine, theirs] = createMemoryTransportPair();
      admission.accept(theirs);
      dialled.set(target.nodeId, mine);
      return mine;
    };
    const engine = createClusterNode({
      settings: { nodeId: id, advertise: `${id}.test:443`, secret: opts.secret ?? SECRET },
      store,
      tunnels: {
        registry,
        disconnect(tunnelId, reason) {
          disconnected.push({ tunnelId, reason });
          const t = registry.byId(tunnelId);
          if (!t) return;
          t.online = false;
          ports.localChanged([], registry.setRoutes(t, [], []).closed);
          registry.remove(t);
        },
      },
      live: opts.live,
      onRemotePorts: (p) => ports.setRemote(p),
      connect,
      keepalive: opts.keepalive ?? false,
      clock,
      log: { info: (m) => void logs.push(m), warn: (m) => void logs.push(m) },
    });
    const n: TestNode = {
      id,
      engine,
      registry,
      clock,
      listening,
      disconnected,
      logs,
      dialled,
      addTunnel(t, rules = { https: [], ports: [] }) {
        registry.add(t);
        const { opened, closed } = registry.setRoutes(t, rules.https, rules.ports);
        ports.localChanged(opened, closed);
      },
    };
    nodes.set(id, n);
    return n;
  };

  return {
    store,
    nodes,
    node,
    async syncAll(ids) {
      const list = ids ?? [...nodes.keys()];
      for (const id of list) await store.heartbeat({ nodeId: id, advertise: `${id}.test:443`, fingerprint: `sha256:${"ab".repeat(32)}`, startedAt: 0 });
      for (const id of list) await nodes.get(id)!.engine.sync.sync();
    },
  };
}

/** A location as the holder's hooks would save it. */
export function location(tunnelId: string, nodeId: string, epoch: string, rules: Partial<Pick<TunnelLocation, "https" | "ports">> = {}): Omit<TunnelLocation, "updatedAt"> {
  return { tunnelId, nodeId, epoch, userId: null, userName: "alice", hostname: `${tunnelId}.host`, https: rules.https ?? [], ports: rules.ports ?? [] };
}

export function httpRule(domain: string) {
  return { domain, ownCertificate: false, answersAcme: false, redirect: false, rewriteHost: "", basicHttpAuth: "", firewall: [], available: true };
}

export function portRule(port: number, extra: { private?: boolean; forwarded?: boolean } = {}) {
  return { port, forwarded: extra.forwarded ?? true, firewall: [], ...(extra.private ? { private: true } : {}) };
}

/** Reads a stream to its end. */
export function readAll(stream: MuxStream): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = [];
    stream.ondata = (b) => void parts.push(b.slice());
    stream.onend = () => resolve(Buffer.concat(parts));
    stream.onclose = (err) => (err ? reject(err) : resolve(Buffer.concat(parts)));
  });
}

export const T1 = "1".repeat(32);

/** Nodes a and b, tunnel T1 live on b with app.test and port 20001, both synced and linked. */
export async function twoLinkedNodes(opts: { a?: NodeOptions; b?: NodeOptions } = {}): Promise<{ c: TestCluster; tunnel: FakeLiveTunnel }> {
  const c = startCluster();
  const a = c.node("a", opts.a);
  const b = c.node("b", opts.b);
  const tunnel = new FakeLiveTunnel(T1, "epoch-1");
  const rules = { https: [httpRule("app.test")], ports: [portRule(20001)] };
  b.addTunnel(tunnel, rules);
  await c.store.saveLocation(location(T1, "b", "epoch-1", rules));
  await c.syncAll();
  const linked = () => a.engine.links.connectedNodes().includes("b") && b.engine.links.connectedNodes().includes("a");
  await waitFor(linked, "links a<->b", 5_000, 1);
  return { c, tunnel };
}
