// The mux sessions between cluster nodes. This node dials one peer link to every other
// live node (reconnecting with backoff, dropped when the node leaves the list) and accepts
// the links the others dial to it. Streams go both ways on any link: a node opens a
// stream toward the holder of a tunnel (RemoteTunnel.openStream), and the holder pipes
// each stream it receives into its local tunnel (`serveStream`), with the mux credit
// windows of both hops bounding what is buffered on the way. Control messages carry an
// admin's actions on another node's tunnel: disconnect it, apply a remote change.
import { randomBytes } from "node:crypto";
import type { Logger } from "../log.ts";
import { realClock, type Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import { createMuxSession, type KeepaliveOptions, type MuxSession } from "../mux/session.ts";
import type { MuxStream } from "../mux/stream.ts";
import type { Transport } from "../mux/transport.ts";
import { backoffDelay } from "../net/backoff.ts";
import { pipe } from "../net/pipe.ts";
import { decodeJson, encodeJson, type ServerStreamMeta } from "../tunnel/messages.ts";
import type { ClusterNode, PeerStreamMeta } from "./types.ts";

/** Opens a transport to a node's peer endpoint (rejects with why it could not). */
export type PeerConnector = (node: ClusterNode, signal: AbortSignal) => Promise<Transport>;

/** What the holder needs of its local tunnel (the server engine's LiveTunnel). */
export interface HolderTunnel {
  readonly online: boolean;
  /** The session id (the location epoch) of the login. */
  readonly session: string;
  openStream(meta: ServerStreamMeta): MuxStream;
  /** Remote management: the client applies the change and answers (never rejects). */
  applyChange(change: unknown): Promise<ApplyResult>;
}

export interface ApplyResult {
  ok: boolean;
  error?: string;
}

/** Control messages between nodes (MESSAGE frames on a peer link). */
type PeerMessage =
  /** Disconnect the tunnel if it is connected to the receiving node (an admin shut it down, its token was revoked). */
  | { t: "disconnect"; id: string; reason: string }
  /** Apply a remote change to the tunnel's client; answered with `applied`. */
  | { t: "apply"; rid: string; id: string; e: string; change: unknown }
  | { t: "applied"; rid: string; ok: boolean; error?: string };

/** Which end of a peer stream: opened here toward a holder, or received here as the holder. */
export type PeerStreamEnd = "sent" | "received";

export interface PeerLinksOptions {
  nodeId: string;
  connect: PeerConnector;
  /** The live tunnel of this node with that id, if any. */
  localTunnel(tunnelId: string): HolderTunnel | undefined;
  /** Disconnects a local tunnel (another node asked). */
  disconnectLocal(tunnelId: string, reason: string): void;
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
  /** Asks every linked node to disconnect the tunnel if its client is connected there. */
  disconnectEverywhere(tunnelId: string, reason: string): void;
  /** Remote management of a tunnel held by `nodeId` under login `epoch`; never rejects. */
  applyChange(nodeId: string, tunnelId: string, epoch: string, change: unknown): Promise<ApplyResult>;
  /** Nodes this node has a link to (dialled or accepted). */
  connectedNodes(): string[];
  stop(): void;
}

const DEFAULT_BACKOFF = { minMs: 500, maxMs: 5_000 };
/** The holder gives its client 15 s to apply a change (LiveTunnel.applyChange); this adds the hop. */
const APPLY_TIMEOUT_MS = 20_000;
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

  /** Remote changes sent from here, waiting for the holder's answer. */
  const pendingApplies = new Map<string, (r: ApplyResult) => void>();
  const send = (s: MuxSession, msg: PeerMessage) => {
    if (!s.closed) s.sendMessage(encodeJson(msg));
  };

  const onMessage = (s: MuxSession, bytes: Uint8Array) => {
    const msg = decodeJson<PeerMessage>(bytes);
    if (!msg || typeof msg.t !== "string") return;
    if (msg.t === "disconnect" && typeof msg.id === "string") {
      if (opts.localTunnel(msg.id)?.online) opts.disconnectLocal(msg.id, String(msg.reason ?? "disconnected by another node").slice(0, 500));
    } else if (msg.t === "apply" && typeof msg.rid === "string" && typeof msg.id === "string") {
      const tunnel = opts.localTunnel(msg.id);
      const answer = (r: ApplyResult) => send(s, { t: "applied", rid: msg.rid, ok: r.ok, ...(r.error ? { error: r.error } : {}) });
      if (!tunnel?.online || tunnel.session !== msg.e) return answer({ ok: false, error: "tunnel is offline" });
      void tunnel.applyChange(msg.change).then(answer, (err) => answer({ ok: false, error: errorMessage(err) }));
    } else if (msg.t === "applied" && typeof msg.rid === "string") {
      pendingApplies.get(msg.rid)?.({ ok: msg.ok === true, error: msg.ok === true ? undefined : String(msg.error ?? "the client refused the change").slice(0, 500) });
    }
  };

  const session = (transport: Transport, side: "client" | "server", onClose: (reason: string) => void) => {
    const s: MuxSession = createMuxSession({
      transport,
      side,
      keepalive: opts.keepalive,
      clock: opts.clock,
      onStream: serveStream,
      onMessage: (bytes) => onMessage(s, bytes),
      onWindowStall: opts.onWindowStall,
      onClose: (reason) => onClose(reason.message),
    });
    return s;
  };

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
    disconnectEverywhere(tunnelId, reason) {
      for (const id of live) {
        const s = sessionTo(id);
        if (s) send(s, { t: "disconnect", id: tunnelId, reason });
      }
    },
    applyChange(nodeId, tunnelId, epoch, change) {
      const s = sessionTo(nodeId);
      if (!s) return Promise.resolve({ ok: false, error: `no peer link to node ${nodeId}, which holds the tunnel` });
      const rid = randomBytes(8).toString("hex");
      return new Promise<ApplyResult>((resolve) => {
        const timer = clock.setTimeout(() => settle({ ok: false, error: `node ${nodeId} did not answer in time` }), APPLY_TIMEOUT_MS);
        const settle = (r: ApplyResult) => {
          clock.clearTimeout(timer);
          pendingApplies.delete(rid);
          resolve(r);
        };
        pendingApplies.set(rid, settle);
        send(s, { t: "apply", rid, id: tunnelId, e: epoch, change });
      });
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
