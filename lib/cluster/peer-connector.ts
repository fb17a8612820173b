// Dials a node's peer endpoint: a WebSocket over TLS to its advertise address, as the
// tunnel client dials the server (lib/tunnel/client/client.ts webSocketConnector), with
// the node's published certificate fingerprint as the pin (lib/client-api/trust.ts "pin":
// the certificate is read first, then only that chain is trusted and checked again on the
// link's own connection). Bun's WebSocket client sets TCP_NODELAY on its socket (checked
// with strace on Bun 1.4.5), which small request/response traffic over a link needs.
// A named advertise address is resolved and dialled by IP: no SNI is sent, so the front
// door on 443 takes the link for the server's own domain (a per-node name would be looked
// up as a tunnel name there), and the pin needs no name.
import { fetchTlsOptions, pinTrust } from "../client-api/trust.ts";
import { lookup } from "node:dns/promises";
import { parseServerHost, type ServerAddress } from "../client-api/server-host.ts";
import { openWebSocketTransport, type Transport } from "../mux/transport.ts";
import { PEER_NODE_HEADER } from "./peer-endpoint.ts";
import type { PeerConnector } from "./peer-links.ts";
import { CLUSTER_PEER_PATH } from "./types.ts";

export interface PeerConnectorOptions {
  /** This node's id (X-Spokes-Node). */
  nodeId: string;
  secret: string;
  /** Time for the certificate check and for the link to open (default 10 s). */
  timeoutMs?: number;
}

export function webSocketPeerConnector(opts: PeerConnectorOptions): PeerConnector {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return async (node, signal) => {
    if (!node.fingerprint) throw new Error(`node ${node.nodeId} has published no certificate fingerprint yet`);
    const server = await addressOf(parseServerHost(node.advertise));
    const tls = await fetchTlsOptions(server, pinTrust(node.fingerprint), timeoutMs);
    if (signal.aborted) throw new Error("connection aborted");
    const ws = new WebSocket(`wss://${server.hostPort}${CLUSTER_PEER_PATH}`, {
      headers: { Authorization: `Bearer ${opts.secret}`, [PEER_NODE_HEADER]: opts.nodeId },
      tls,
    } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    return openWebSocketTransport(ws, {
      timeoutMs,
      signal,
      describe: (f) =>
        `cannot connect to ${server.hostPort}: ${f.timedOut ? `timed out after ${timeoutMs} ms` : (refusalText(f.error) ?? (f.reason || f.error || `closed (${f.code})`))}`,
    });
  };
}

/** What a refused upgrade's status means for a peer link. */
function refusalText(failure: string): string | undefined {
  const status = /status code: (\d{3})/.exec(failure)?.[1];
  if (status === "403") return "the node refused this node's cluster secret (403)";
  if (status === "404") return "no cluster peer endpoint there (404: is cluster mode on at that node?)";
  if (status === "409") return "the node has the same cluster.nodeId as this one (409)";
  return status ? `the node answered ${status} instead of accepting the link` : undefined;
}

/** The address dialled: an IP literal as is, a name resolved (first address). */
async function addressOf(server: ServerAddress): Promise<ServerAddress> {
  if (server.isAddress) return server;
  let address: string;
  try {
    address = (await lookup(server.host)).address;
  } catch (err) {
    throw new Error(`cannot resolve ${server.host}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return parseServerHost(address.includes(":") ? `[${address}]:${server.port}` : `${address}:${server.port}`);
}
