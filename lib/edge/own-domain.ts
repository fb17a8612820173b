// The server's own domain after TLS was terminated in-process at the front door: the
// first request head decides. A tunnel endpoint upgrade (pktriot's control and data
// connections, the bulk of the traffic) is answered here and its WebSocket framed here,
// on the same connection: no loopback hop, no second TLS listener. Anything else (the
// dashboard, the APIs) is relayed, decrypted, to the web server on loopback, which is not
// performance critical and keeps Bun.serve's full HTTP handling.
import type { DuplexConnection } from "../net/connection.ts";
import { isWebSocketKey, WebSocketFramingTransport, websocketUpgradeResponse } from "../mux/websocket-framing.ts";
import type { TunnelServer } from "../tunnel/server/server.ts";
import type { LoopbackRelay } from "./loopback-relay.ts";

export interface OwnDomainOptions {
  tunnels: Pick<TunnelServer, "admit">;
  relay: LoopbackRelay;
  /** Loopback port of the plain-HTTP web server that serves decrypted own-domain requests. */
  webPlainPort(): number;
  /** The first request head must arrive within this time (default 30 s). */
  headTimeoutMs?: number;
}

/** Larger heads are not tunnel upgrades: they go to the web server, which answers 431. */
const MAX_HEAD = 16 * 1024;
const HEAD_END = new Uint8Array([13, 10, 13, 10]);

/** Serves one decrypted own-domain connection (paused, as it comes from the terminator). */
export function serveOwnDomain(conn: DuplexConnection, remote: string, opts: OwnDomainOptions): void {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let decided = false;
  const timer = setTimeout(() => {
    if (!decided) conn.reset();
  }, opts.headTimeoutMs ?? 30_000);
  const decide = (head: Uint8Array | null, buffered: Uint8Array) => {
    decided = true;
    clearTimeout(timer);
    conn.pause();
    conn.ondata = conn.onend = conn.onclose = null;
    void route(conn, remote, head, buffered, opts);
  };
  conn.ondata = (bytes) => {
    chunks.push(bytes);
    size += bytes.length;
    const all = chunks.length === 1 ? bytes : concat(chunks, size);
    chunks.length = 0;
    chunks.push(all);
    const end = indexOf(all, HEAD_END, Math.max(0, size - bytes.length - 3));
    if (end >= 0) decide(all.subarray(0, end + 4), all);
    else if (size > MAX_HEAD) decide(null, all);
  };
  conn.onend = () => {
    if (!decided) decide(null, concat(chunks, size));
  };
  conn.onclose = () => clearTimeout(timer);
  conn.resume();
}

async function route(conn: DuplexConnection, remote: string, head: Uint8Array | null, buffered: Uint8Array, opts: OwnDomainOptions): Promise<void> {
  const req = head ? parseHead(head) : undefined;
  const admission = req ? await opts.tunnels.admit(req, remote).catch(() => undefined) : undefined;
  if (!req || !admission) {
    await opts.relay.relay(conn, remote, opts.webPlainPort(), buffered);
    return;
  }
  if ("refuse" in admission) {
    const body = new Uint8Array(await admission.refuse.arrayBuffer());
    const type = admission.refuse.headers.get("content-type") ?? "text/plain";
    const text = `HTTP/1.1 ${admission.refuse.status} ${admission.refuse.statusText || "Refused"}\r\ncontent-type: ${type}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    conn.write(new TextEncoder().encode(text));
    conn.write(body);
    conn.end();
    conn.resume();
    return;
  }
  const key = req.header("sec-websocket-key");
  if (req.method !== "GET" || req.header("sec-websocket-version") !== "13" || !isWebSocketKey(key) || !/\bupgrade\b/i.test(req.header("connection") ?? "")) {
    conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"));
    conn.end();
    conn.resume();
    return;
  }
  conn.write(websocketUpgradeResponse(key));
  admission.accept(new WebSocketFramingTransport(conn, {}, buffered.subarray(head!.length)));
}

interface ParsedHead {
  method: string;
  url: URL;
  header(name: string): string | undefined;
}

/** A request line and header fields; undefined for anything malformed (the web server then answers it). */
function parseHead(head: Uint8Array): ParsedHead | undefined {
  const text = new TextDecoder("latin1").decode(head.subarray(0, head.length - 4));
  const lines = text.split("\r\n");
  const m = /^([A-Z]+) (\/[^ ]*) HTTP\/1\.1$/.exec(lines[0] ?? "");
  if (!m) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0 || /[\s\n]/.test(line.slice(0, i))) return undefined;
    const name = line.slice(0, i).toLowerCase();
    if (headers.has(name)) return undefined; // repeated fields: not a request of ours
    headers.set(name, line.slice(i + 1).trim());
  }
  let url: URL;
  try {
    url = new URL(m[2]!, "https://tunnel.invalid");
  } catch {
    return undefined;
  }
  return { method: m[1]!, url, header: (name) => headers.get(name.toLowerCase()) };
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
