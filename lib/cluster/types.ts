// The contract between the cluster engine (lib/cluster) and its storage (db/queries/cluster.ts,
// wired in commands/_serve/): what a node knows about the other nodes and where each tunnel's
// client is connected. The engine never imports db/; tests use an in-memory store.
import type { HttpRuleAnnounce, PortRuleAnnounce, ServerStreamMeta } from "../tunnel/messages.ts";

/** `cluster` settings of a node (cluster mode is on when `secret` is set). */
export interface ClusterSettings {
  /** This node's id (unique in the cluster). */
  nodeId: string;
  /** "host:port" where peers reach this node's tunnel endpoint (the HTTPS port or listen.tunnel). */
  advertise: string;
  /** Shared by every node; a peer link presenting another one is refused. */
  secret: string;
}

/** A node with a recent heartbeat. */
export interface ClusterNode {
  nodeId: string;
  advertise: string;
  /** sha256 fingerprint of the certificate the node presents at `advertise` (peers pin it). */
  fingerprint: string;
  startedAt: number;
  heartbeatAt: number;
}

/** Where a tunnel's client is connected now, and the routes that node accepted for it. */
export interface TunnelLocation {
  tunnelId: string;
  nodeId: string;
  /** The holding node's session id for this login: a newer login (anywhere) has another epoch. */
  epoch: string;
  userId: string | null;
  /** The tunnel user's name (mesh access lists match `user:<name>`). */
  userName?: string;
  hostname: string;
  https: HttpRuleAnnounce[];
  ports: PortRuleAnnounce[];
  updatedAt: number;
}

/** A location's identity, enough to tell whether it changed since the last poll. */
export interface TunnelLocationStamp {
  tunnelId: string;
  nodeId: string;
  epoch: string;
  updatedAt: number;
}

export interface ClusterStore {
  /** Refreshes this node's heartbeat row (with its advertise address and certificate fingerprint). */
  heartbeat(node: Omit<ClusterNode, "heartbeatAt">): Promise<void>;
  /** Nodes whose heartbeat is newer than `maxAgeMs` (this one included). */
  liveNodes(maxAgeMs: number): Promise<ClusterNode[]>;
  /** Every location's stamp (polled every second: keep it cheap). */
  locationStamps(): Promise<TunnelLocationStamp[]>;
  /** Full locations of the given tunnels. */
  locations(tunnelIds: string[]): Promise<TunnelLocation[]>;
  /** Writes (upserts) this node's location of a tunnel: on login and on every rules change. */
  saveLocation(location: Omit<TunnelLocation, "updatedAt">): Promise<void>;
  /** Clears a location only while it is still `nodeId`'s with `epoch` (a newer login elsewhere keeps its row). */
  clearLocation(tunnelId: string, nodeId: string, epoch: string): Promise<void>;
  /** Deletes the locations held by nodes with no heartbeat newer than `maxAgeMs`, marks those tunnels offline; returns how many. */
  expireDeadNodes(maxAgeMs: number): Promise<number>;
}

/** The meta of a stream a node opens on its peer link to the node holding a tunnel. */
export interface PeerStreamMeta {
  t: "peer";
  /** Tunnel id. */
  id: string;
  /** The location epoch the opener routed by (a stale one is reset). */
  e?: string;
  /** What the holder passes on to its tunnel's client. */
  m: ServerStreamMeta;
}

/** Heartbeat period and the age after which a node counts as dead, in cluster mode. */
export const CLUSTER_HEARTBEAT_MS = 2_000;
export const CLUSTER_NODE_DEAD_MS = 10_000;
/** How often each node polls the locations. */
export const CLUSTER_SYNC_MS = 1_000;
/** Peer link endpoint (next to the tunnel endpoints). */
export const CLUSTER_PEER_PATH = "/api/client/v1/cluster/peer";
