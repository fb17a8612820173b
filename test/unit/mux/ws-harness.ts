// A mux session pair over a real WebSocket on 127.0.0.1 (Bun.serve on a kernel-chosen
// port + Bun's client WebSocket), optionally with TLS. Used by the transport tests and
// by scripts/bench-mux.ts.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createMuxSession,
  type MuxError,
  type MuxSession,
  type MuxSessionOptions,
  ServerWebSocketTransport,
  serverTransportHandlers,
  WebSocketTransport,
  type WebSocketTransportOptions,
} from "../../../lib/mux/index.ts";

type Extra = Partial<Omit<MuxSessionOptions, "transport" | "side">>;

export interface SelfSignedCert {
  cert: string;
  key: string;
}

/** A throwaway self-signed P-256 certificate for localhost (openssl CLI). */
export function makeSelfSignedCert(): SelfSignedCert {
  const dir = mkdtempSync(join(tmpdir(), "mux-cert-"));
  try {
    const r = Bun.spawnSync(
      [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=localhost", "-days", "1", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface WsPair {
  client: MuxSession;
  server: MuxSession;
  clientWs: WebSocket;
  clientClosed: Promise<MuxError>;
  serverClosed: Promise<MuxError>;
  /** How many times ws.send() returned -1 on the server (backpressure seen). */
  serverBackpressure(): number;
  stop(): void;
}

export async function wsSessionPair(
  opts: { tls?: SelfSignedCert; server?: Extra; client?: Extra; clientTransport?: WebSocketTransportOptions } = {},
): Promise<WsPair> {
  let serverSession: MuxSession | undefined;
  let rs!: (e: MuxError) => void;
  const serverClosed = new Promise<MuxError>((r) => (rs = r));
  let blocked = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: opts.tls,
    fetch(req, srv) {
      if (srv.upgrade(req, { data: { transport: null } })) return undefined;
      return new Response("websocket only", { status: 400 });
    },
    websocket: {
      data: {} as { transport: ServerWebSocketTransport | null },
      perMessageDeflate: false,
      maxPayloadLength: 64 * 1024 * 1024,
      idleTimeout: 0,
      open(ws) {
        const t = new ServerWebSocketTransport({
          send: (d, c) => {
            const r = ws.send(d, c);
            if (r === -1) blocked++;
            return r;
          },
          close: (code, reason) => ws.close(code, reason),
        });
        ws.data.transport = t;
        serverSession = createMuxSession({
          keepalive: false,
          ...opts.server,
          transport: t,
          side: "server",
          onClose: (e) => (opts.server?.onClose?.(e), rs(e)),
        });
      },
      ...serverTransportHandlers,
    },
  });
  const scheme = opts.tls ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://127.0.0.1:${server.port}/`, {
    perMessageDeflate: false,
    tls: opts.tls ? { rejectUnauthorized: false } : undefined,
  } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = (e) => reject(new Error(`websocket failed: ${(e as ErrorEvent).message}`));
  });
  let rc!: (e: MuxError) => void;
  const clientClosed = new Promise<MuxError>((r) => (rc = r));
  const client = createMuxSession({
    keepalive: false,
    ...opts.client,
    transport: new WebSocketTransport(ws, opts.clientTransport),
    side: "client",
    onClose: (e) => (opts.client?.onClose?.(e), rc(e)),
  });
  const deadline = performance.now() + 5000;
  while (!serverSession) {
    if (performance.now() > deadline) throw new Error("server session not created");
    await Bun.sleep(1);
  }
  return {
    client,
    server: serverSession,
    clientWs: ws,
    clientClosed,
    serverClosed,
    serverBackpressure: () => blocked,
    stop() {
      client.close();
      server.stop(true);
    },
  };
}
