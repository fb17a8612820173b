// Admin control of live tunnels across the cluster: the dashboard, the Admin API and the
// client API ask any node whether a tunnel is online, which rules it announced, what its
// client's config is, to apply a remote change or to disconnect it. A tunnel held here is
// asked directly; one held by another node is answered from its location (online, rules)
// or by a request over the peer link to its holder, which runs it on its own local
// control: the same code path as a request made at the holder.
//
// The request rides a peer stream of its own kind: the request in the stream's meta (the
// mux bounds meta at 256 KiB), the holder's JSON reply as the stream's data, then FIN.
import { realClock, type Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import type { MuxStream } from "../mux/stream.ts";
import { copyBytes } from "../net/release-buffer.ts";
import { decodeJson, encodeJson } from "../tunnel/messages.ts";
import type { TunnelLocation } from "./types.ts";

export interface ApplyResult {
  ok: boolean;
  error?: string;
}

/** The live side of tunnels as the web app sees it (web/deps.ts WebLiveTunnels). */
export interface LiveControl {
  isOnline(tunnelId: string): boolean;
  /** The rules the online client announced, or undefined when offline. */
  announced(tunnelId: string): { https: unknown[]; ports: unknown[] } | undefined;
  disconnect(tunnelId: string, reason: string): void;
  /** The online client's announced config, or undefined when offline. */
  tunnel(tunnelId: string): { config: unknown } | undefined | Promise<{ config: unknown } | undefined>;
  /** Sends a remote change to the client; never rejects. */
  applyChange(tunnelId: string, change: unknown): Promise<ApplyResult>;
}

/** A request to the node holding a tunnel. */
export type LiveRequest =
  | { t: "live"; id: string; op: "config" }
  | { t: "live"; id: string; op: "apply"; change: unknown }
  | { t: "live"; id: string; op: "disconnect"; reason: string };

/** `unanswered`: the holder was not reached or did not answer (no link, timeout, cut), as opposed to a refusal. */
export type LiveReply = { ok: true; config?: unknown } | { ok: false; error: string; unanswered?: boolean };

/** A reply larger than this is refused (a client config with its certificates fits well inside). */
export const MAX_LIVE_REPLY_BYTES = 1 << 20;
/** Longer than the holder's own wait for the client's answer to a change (15 s). */
export const LIVE_APPLY_TIMEOUT_MS = 20_000;
export const LIVE_REQUEST_TIMEOUT_MS = 5_000;
const MAX_REASON = 500;

/** A received request's meta, checked field by field, or undefined. */
export function parseLiveRequest(meta: unknown): LiveRequest | undefined {
  const m = meta as Partial<Record<string, unknown>> | undefined;
  if (!m || m.t !== "live" || typeof m.id !== "string" || m.id.length > 64) return undefined;
  if (m.op === "config") return { t: "live", id: m.id, op: "config" };
  if (m.op === "apply" && m.change && typeof m.change === "object") return { t: "live", id: m.id, op: "apply", change: m.change };
  if (m.op === "disconnect" && typeof m.reason === "string") return { t: "live", id: m.id, op: "disconnect", reason: m.reason.slice(0, MAX_REASON) };
  return undefined;
}

/** The holder's side: runs the request on this node's own control and writes the reply. */
export async function answerLiveRequest(stream: MuxStream, request: LiveRequest, local: LiveControl): Promise<void> {
  let reply: LiveReply;
  try {
    reply = await runLocally(request, local);
  } catch (err) {
    reply = { ok: false, error: errorMessage(err) };
  }
  let bytes = encodeJson(reply);
  if (bytes.byteLength > MAX_LIVE_REPLY_BYTES) bytes = encodeJson({ ok: false, error: `the reply of ${bytes.byteLength} bytes is too large` });
  if (stream.closed) return;
  stream.write(bytes);
  stream.end();
}

async function runLocally(request: LiveRequest, local: LiveControl): Promise<LiveReply> {
  const offline: LiveReply = { ok: false, error: "tunnel is offline" };
  switch (request.op) {
    case "config": {
      const view = await local.tunnel(request.id);
      return view ? { ok: true, config: view.config } : offline;
    }
    case "apply": {
      if (!local.isOnline(request.id)) return offline;
      const r = await local.applyChange(request.id, request.change);
      return r.ok ? { ok: true } : { ok: false, error: r.error || "the client refused the change" };
    }
    case "disconnect":
      local.disconnect(request.id, request.reason);
      return { ok: true };
  }
}

/**
 * The asking side: opens the request stream (`open` throws when there is no link) and
 * waits for the reply, bounded in size and time. Never rejects.
 */
export function sendLiveRequest(open: () => MuxStream, timeoutMs: number, clock: Clock = realClock): Promise<LiveReply> {
  let stream: MuxStream;
  try {
    stream = open();
  } catch (err) {
    return Promise.resolve({ ok: false, error: errorMessage(err), unanswered: true });
  }
  return new Promise((resolve) => {
    const parts: Uint8Array[] = [];
    let size = 0;
    let done = false;
    const settle = (reply: LiveReply, reset = false) => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      if (reset && !stream.closed) stream.reset();
      resolve(reply);
    };
    const timer = clock.setTimeout(() => settle({ ok: false, error: `no answer within ${timeoutMs / 1000} s`, unanswered: true }, true), timeoutMs);
    stream.ondata = (b) => {
      size += b.byteLength;
      if (size > MAX_LIVE_REPLY_BYTES) return settle({ ok: false, error: `the reply exceeds ${MAX_LIVE_REPLY_BYTES} bytes`, unanswered: true }, true);
      parts.push(copyBytes(b));
    };
    stream.onend = () => {
      const reply = decodeJson<LiveReply>(Buffer.concat(parts), MAX_LIVE_REPLY_BYTES);
      if (!reply || typeof reply.ok !== "boolean") return settle({ ok: false, error: "malformed reply", unanswered: true }, true);
      settle(reply.ok ? { ok: true, config: (reply as { config?: unknown }).config } : { ok: false, error: String(reply.error ?? "refused").slice(0, MAX_REASON) });
      if (!stream.localEnded) stream.end();
    };
    stream.onclose = (err) => settle({ ok: false, error: err ? `the request was cut: ${err.message}` : "the request ended without a reply", unanswered: true });
  });
}

export interface ClusterLiveOptions {
  nodeId: string;
  /** This node's own tunnels. */
  local: LiveControl;
  /** The location of a tunnel another node holds, if any. */
  remote(tunnelId: string): Pick<TunnelLocation, "nodeId" | "https" | "ports"> | undefined;
  /** Nodes this node has a peer link to (a disconnect goes to all of them). */
  linkedNodes(): string[];
  /** Sends a request to a node (sendLiveRequest over its peer link). */
  request(nodeId: string, request: LiveRequest, timeoutMs: number): Promise<LiveReply>;
  log: { warn(msg: string): void };
}

/** The cluster-wide control: local tunnels first, then the other nodes' through their holders. */
export function createClusterLive(opts: ClusterLiveOptions): LiveControl {
  const { local } = opts;
  const holder = (id: string) => {
    const l = opts.remote(id);
    return l && l.nodeId !== opts.nodeId ? l : undefined;
  };
  const unreachable = (nodeId: string, error: string) => `node ${nodeId} holding the tunnel did not answer: ${error}`;
  return {
    isOnline: (id) => local.isOnline(id) || Boolean(holder(id)),
    announced(id) {
      const mine = local.announced(id);
      if (mine) return mine;
      const l = holder(id);
      return l ? { https: l.https, ports: l.ports } : undefined;
    },
    async tunnel(id) {
      if (local.isOnline(id)) return local.tunnel(id);
      const l = holder(id);
      if (!l) return undefined;
      const r = await opts.request(l.nodeId, { t: "live", id, op: "config" }, LIVE_REQUEST_TIMEOUT_MS);
      return r.ok ? { config: r.config } : undefined;
    },
    async applyChange(id, change) {
      if (local.isOnline(id)) return local.applyChange(id, change);
      const l = holder(id);
      if (!l) return { ok: false, error: "tunnel is offline" };
      const r = await opts.request(l.nodeId, { t: "live", id, op: "apply", change }, LIVE_APPLY_TIMEOUT_MS);
      return r.ok ? { ok: true } : { ok: false, error: r.unanswered ? unreachable(l.nodeId, r.error) : r.error };
    },
    disconnect(id, reason) {
      local.disconnect(id, reason);
      // Every linked node is asked, not only the location's: a client that just moved may
      // be connected where no location says yet. Only the holder's silence is worth a line.
      const l = holder(id);
      const nodes = new Set(opts.linkedNodes());
      if (l) nodes.add(l.nodeId);
      nodes.delete(opts.nodeId);
      for (const nodeId of nodes) {
        void opts.request(nodeId, { t: "live", id, op: "disconnect", reason }, LIVE_REQUEST_TIMEOUT_MS).then((r) => {
          if (!r.ok && nodeId === l?.nodeId) opts.log.warn(`disconnecting tunnel ${id} (${reason}): ${r.unanswered ? unreachable(nodeId, r.error) : r.error}`);
        });
      }
    },
  };
}
