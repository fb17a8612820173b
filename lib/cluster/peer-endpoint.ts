// The peer link endpoint (CLUSTER_PEER_PATH), served next to the tunnel endpoints on the
// same listeners: Bun.serve (listen.tunnel, and the loopback web server behind the front
// door) and the in-process TLS front door on 443 (lib/edge/own-domain.ts). Another node
// presents the cluster secret as a bearer token and names itself in X-Spokes-Node; a
// wrong or missing secret is answered 403 with one log line, and no session is made.
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Logger } from "../log.ts";
import { bearerToken } from "../http/bearer.ts";
import { sameSecret } from "../http/same-secret.ts";
import { ServerWebSocketTransport, serverTransportHandlers, type Transport } from "../mux/transport.ts";
import type { TunnelAdmission, TunnelUpgradeRequest } from "../tunnel/server/server.ts";
import { CLUSTER_PEER_PATH } from "./types.ts";

export const PEER_NODE_HEADER = "X-Spokes-Node";

/** Node ids as they travel in a header and in logs. */
const NODE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function isNodeId(value: string | null | undefined): value is string {
  return typeof value === "string" && NODE_ID.test(value);
}

export interface PeerEndpointOptions {
  /** This node's id: a peer presenting the same one is misconfigured and refused. */
  nodeId: string;
  secret: string;
  /** Runs an admitted peer link over its upgraded transport. */
  accept(transport: Transport, peerNodeId: string, address: string): void;
  log: Logger;
}

/** Bun.serve WebSocket data of an upgraded peer link. */
export interface PeerSocketData {
  peerLink: true;
  start(transport: Transport): void;
  transport?: ServerWebSocketTransport;
}

export interface PeerEndpoint {
  /** Whether a request is for the peer endpoint (then `handle`/`admit` answer it). */
  matches(url: URL): boolean;
  /** Checks an upgrade request for the peer endpoint (front door framing); undefined for other paths. */
  admit(req: TunnelUpgradeRequest, address: string): TunnelAdmission | undefined;
  /** For Bun.serve's fetch: a refusal, or undefined once upgraded. Call only when `matches`. */
  handle(req: Request, server: Server<unknown>, address: string): Response | undefined;
  /** Wraps the tunnel server's WebSocket handler so the same Bun.serve also runs peer links. */
  websocket<T>(inner: WebSocketHandler<T>): WebSocketHandler<T>;
}

const refusal = (status: number, error: string) => Response.json({ status: false, error }, { status });

export function createPeerEndpoint(opts: PeerEndpointOptions): PeerEndpoint {
  /** The peer's node id once admitted, else the refusal to send. */
  const check = (req: TunnelUpgradeRequest, address: string): string | Response => {
    if (req.header("upgrade")?.toLowerCase() !== "websocket") return refusal(426, "WebSocket upgrade required");
    const node = req.header(PEER_NODE_HEADER);
    const shown = isNodeId(node) ? node : "?";
    if (!sameSecret(bearerToken(req.header("authorization")), opts.secret)) {
      opts.log.warn(`cluster peer link from ${address} (node ${shown}) refused: wrong or missing cluster secret`, { remote: address });
      return refusal(403, "wrong cluster secret");
    }
    if (!isNodeId(node)) return refusal(400, `missing or malformed ${PEER_NODE_HEADER} header`);
    if (node === opts.nodeId) {
      opts.log.warn(`cluster peer link from ${address} refused: it claims this node's id (${node}); every node needs its own cluster.nodeId`, { remote: address });
      return refusal(409, "node id in use by the node you dialled");
    }
    return node;
  };

  return {
    matches: (url) => url.pathname === CLUSTER_PEER_PATH,
    admit(req, address) {
      if (req.url.pathname !== CLUSTER_PEER_PATH) return undefined;
      const node = check(req, address);
      if (node instanceof Response) return { refuse: node };
      return { accept: (transport) => opts.accept(transport, node, address) };
    },
    handle(req, server, address) {
      const node = check({ url: new URL(req.url), header: (name) => req.headers.get(name) }, address);
      if (node instanceof Response) return node;
      const data: PeerSocketData = { peerLink: true, start: (transport) => opts.accept(transport, node, address) };
      return server.upgrade(req, { data }) ? undefined : refusal(400, "upgrade failed");
    },
    websocket<T>(inner: WebSocketHandler<T>): WebSocketHandler<T> {
      const isPeer = (ws: ServerWebSocket<unknown>): ws is ServerWebSocket<PeerSocketData> => (ws.data as Partial<PeerSocketData> | undefined)?.peerLink === true;
      return {
        ...inner,
        open(ws) {
          if (!isPeer(ws)) return inner.open?.(ws);
          const transport = new ServerWebSocketTransport(ws);
          ws.data.transport = transport;
          ws.data.start(transport);
        },
        message(ws, message) {
          if (isPeer(ws)) serverTransportHandlers.message(ws, message);
          else inner.message?.(ws, message);
        },
        drain(ws) {
          if (isPeer(ws)) serverTransportHandlers.drain(ws);
          else inner.drain?.(ws);
        },
        close(ws, code, reason) {
          if (isPeer(ws)) serverTransportHandlers.close(ws, code, reason);
          else inner.close?.(ws, code, reason);
        },
      };
    },
  };
}
