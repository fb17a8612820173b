// The mux sessions between cluster nodes. This node dials one peer link to every other
// live node (reconnecting with backoff, dropped when the node leaves the list) and accepts
// the links the others dial to it. Streams go both ways on any link: a node opens a
// stream toward the holder of a tunnel (RemoteTunnel.openStream), and the holder pipes
// each stream it receives into its local tunnel (`serveStream`), with the mux credit
// windows of both hops bounding what is buffered on the way. Streams of another kind carry
// an admin's request about a tunnel held by the other node (lib/cluster/live-control.ts).
import type { Logger } from "../log.ts";
import { realClock, type Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import { createMuxSession, type KeepaliveOptions, type MuxSession } from "../mux/session.ts";
import type { MuxStream } from "../mux/stream.ts";
import type { Transport } from "../mux/transport.ts";
import { backoffDelay } from "../net/backoff.ts";
import { pipe } from "../net/pipe.ts";
import { decodeJson, encodeJson, type ServerStreamMeta } from "../tunnel/messages.ts";
import { parseLiveRequest, sendLiveRequest, type LiveReply, type LiveRequest } from "./live-control.ts";
import type { ClusterNode, PeerStreamMeta } from "./types.ts";

/** Opens a transport to a node's peer endpoint (rejects with why it could not). */
export type PeerConnector = (node: ClusterNode, signal: AbortSignal) => Promise<Transport>;

/** What the holder needs of its local tunnel (the server engine's LiveTunnel). */
export interface HolderTunnel {
  readonly online: boolean;
  /** The session id (the location epoch) of the login. */
  readonly session: string;
  openStream(meta: ServerStreamMeta): MuxStream;
}

/** Which end of a peer stream: opened here toward a holder, or received here as the holder. */
export type PeerStreamEnd = "sent" | "received";

export interface PeerLinksOptions {
  nodeId: string;
  connect: PeerConnector;
  /** The live tunnel of this node with that id, if any. */
  localTunnel(tunnelId: string): HolderTunnel | undefined;
  /** Runs an admin request about a tunnel held here (lib/cluster/live-control.ts); without it such requests are reset. */
  answerLive?(stream: MuxStream, request: LiveRequest): void;
  /** Heartbeat of the links (default as the tunnel sessions: PING every 10 s, dead after 30 s). */
  keepalive?: Partial<KeepaliveOptions> | false;
  /** Reconnect backoff (default 0.5 s doubling up to 5 s). */
  backoff?: { minMs: number; maxMs: number };
  clock?: Clock;
  /** Each peer stream opened or refused (metrics). */
  onPeerStream?(end: PeerStreamEnd, outcome: "opened" | "failed"): void;
  onWindowStall?(): void;
  log: Logger;
}

export interface PeerLinks {
  /** Dials every node of the list but this one; drops the links of nodes no longer in it. */
  setNodes(nodes: readonly ClusterNode[]): void;
  /** Runs a link another node dialled (admitted by the peer endpoint). */
  accept(transport: Transport, peerNodeId: string, address: string): void;
  /** Opens a stream to a node at once; throws when there is no link to it. */
  openStream(nodeId: string, meta: PeerStreamMeta): MuxStream;
  /** Sends an admin request to a node and waits for its reply (bounded in size and time); never rejects. */
  request(nodeId: string, request: LiveRequest, timeoutMs: number): Promise<LiveReply>;
  /** Nodes this node has a link to (dialled or accepted). */
  connectedNodes(): string[];
  stop(): void;
}

const DEFAULT_BACKOFF = { minMs: 500, maxMs: 5_000 };
const STREAM_KINDS = new Set(["http", "tls", "tcp", "svc"]);

/** A received peer stream's meta, checked field by field (the peer is authenticated, the bytes still come off the network). */
export function parsePeerStreamMeta(bytes: Uint8Array): PeerStreamMeta | undefined {
  const m = decodeJson<PeerStreamMeta>(bytes);
  if (!m || m.t !== "peer" || typeof m.id !== "string" || (m.e !== undefined && typeof m.e !== "string")) return undefined;
  if (!m.m || typeof m.m !== "object" || !STREAM_KINDS.has(m.m.t) || typeof m.m.r !== "string") return undefined;
  return m;
}

interface Dialer {
  node: ClusterNode;
  session?: MuxSession;
  abort: AbortController;
  timer?: unknown;
  attempt: number;
  lastError?: string;
  stopped: boolean;
}

export function createPeerLinks(opts: PeerLinksOptions): PeerLinks {
  const clock = opts.clock ?? realClock;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const dialers = new Map<string, Dialer>();
  /** The latest link each node dialled to this one. */
  const accepted = new Map<string, MuxSession>();
  /** Nodes with a recent heartbeat: a node that left is not routed to, whatever link it still has. */
  let live = new Set<string>();
  let stopped = false;

  /** The holder's side: the stream goes into the local tunnel, or is reset. */
  const serveStream = (stream: MuxStream, metaBytes: Uint8Array) => {
    const fail = () => {
      opts.onPeerStream?.("received", "failed");
      stream.reset();
    };
    const live = opts.answerLive && parseLiveRequest(decodeJson(metaBytes));
    if (live) return opts.answerLive!(stream, live);
    const meta = parsePeerStreamMeta(metaBytes);
    if (!meta) return fail();
    const tunnel = opts.localTunnel(meta.id);
    // Unknown here, or routed by a location of an older login: the opener answers 502/reset.
    if (!tunnel?.online || (meta.e !== undefined && meta.e !== tunnel.session)) return fail();
    let toClient: MuxStream;
    try {
      toClient = tunnel.openStream(meta.m);
    } catch {
      return fail();
    }
    opts.onPeerStream?.("received", "opened");
    void pipe(stream, toClient);
  };

  const session = (transport: Transport, side: "client" | "server", onClose: (reason: string) => void) =>
    createMuxSession({
      transport,
      side,
      keepalive: opts.keepalive,
      clock: opts.clock,
      onStream: serveStream,
      onWindowStall: opts.onWindowStall,
      onClose: (reason) => onClose(reason.message),
    });

  const schedule = (d: Dialer) => {
    if (d.stopped) return;
    d.timer = clock.setTimeout(() => dial(d), backoffDelay(d.attempt++, backoff.minMs, backoff.maxMs));
  };

  const dial = (d: Dialer) => {
    d.timer = undefined;
    if (d.stopped) return;
    d.abort = new AbortController();
    const { nodeId, advertise } = d.node;
    opts.connect(d.node, d.abort.signal).then(
      (transport) => {
        if (d.stopped) return transport.close(1001, "node left the cluster");
        d.attempt = 0;
        d.lastError = undefined;
        d.session = session(transport, "client", (reason) => {
          d.session = undefined;
          if (d.stopped) return;
          opts.log.warn(`cluster peer link to node ${nodeId} (${advertise}) closed: ${reason}`);
          schedule(d);
        });
        opts.log.info(`cluster peer link to node ${nodeId} (${advertise}) up`);
      },
      (err) => {
        if (d.stopped) return;
        // One line per streak of the same failure, not one per retry.
        const why = errorMessage(err);
        if (why !== d.lastError) opts.log.warn(`cluster peer link to node ${nodeId} (${advertise}) failed: ${why}; retrying`);
        d.lastError = why;
        schedule(d);
      },
    );
  };

  const stopDialer = (d: Dialer, reason: string) => {
    d.stopped = true;
    clock.clearTimeout(d.timer);
    d.abort.abort();
    d.session?.close(reason);
  };

  /** A usable session to a node: the one dialled from here first, else the one it dialled. */
  const sessionTo = (nodeId: string): MuxSession | undefined => {
    if (!live.has(nodeId)) return undefined;
    const usable = (s: MuxSession | undefined) => (s && !s.closed && !s.goingAway ? s : undefined);
    return usable(dialers.get(nodeId)?.session) ?? usable(accepted.get(nodeId));
  };

  return {
    setNodes(nodes) {
      if (stopped) return;
      const wanted = new Map(nodes.filter((n) => n.nodeId !== opts.nodeId && n.advertise).map((n) => [n.nodeId, n]));
      live = new Set(wanted.keys());
      for (const [id, d] of dialers) {
        const n = wanted.get(id);
        if (n && n.advertise === d.node.advertise && n.fingerprint === d.node.fingerprint) continue;
        stopDialer(d, n ? "node moved or changed its certificate" : "node left the cluster");
        dialers.delete(id);
        if (!n) opts.log.info(`cluster node ${id} left (no heartbeat): its peer link is closed`);
      }
      for (const [id, node] of wanted) {
        if (dialers.has(id)) continue;
        const d: Dialer = { node, abort: new AbortController(), attempt: 0, stopped: false };
        dialers.set(id, d);
        dial(d);
      }
    },
    accept(transport, peerNodeId, address) {
      if (stopped) return transport.close(1001, "node stopping");
      const previous = accepted.get(peerNodeId);
      const s = session(transport, "server", (reason) => {
        if (accepted.get(peerNodeId) === s) accepted.delete(peerNodeId);
        if (!stopped) opts.log.info(`cluster peer link from node ${peerNodeId} (${address}) closed: ${reason}`);
      });
      accepted.set(peerNodeId, s);
      // A node that dialled again has given up on its previous link.
      previous?.close("replaced by a new link from the same node");
      opts.log.info(`cluster peer link from node ${peerNodeId} (${address}) accepted`, { remote: address });
    },
    openStream(nodeId, meta) {
      const s = sessionTo(nodeId);
      try {
        if (!s) throw new Error(`no peer link to node ${nodeId}`);
        const stream = s.openStream(encodeJson(meta));
        opts.onPeerStream?.("sent", "opened");
        return stream;
      } catch (err) {
        opts.onPeerStream?.("sent", "failed");
        throw err;
      }
    },
    request(nodeId, request, timeoutMs) {
      const open = () => {
        const s = sessionTo(nodeId);
        if (!s) throw new Error(`no peer link to node ${nodeId}`);
        return s.openStream(encodeJson(request));
      };
      return sendLiveRequest(open, timeoutMs, clock);
    },
    connectedNodes() {
      return [...live].filter((id) => sessionTo(id));
    },
    stop() {
      stopped = true;
      for (const d of dialers.values()) stopDialer(d, "node stopping");
      dialers.clear();
      for (const s of accepted.values()) s.close("node stopping");
      accepted.clear();
    },
  };
}
