// Micro-benchmark of the tunnel multiplexer: two MuxSessions over an in-memory transport,
// over a real WebSocket on 127.0.0.1, and over WebSocket + TLS (throwaway self-signed
// certificate). Reports MB/s for one bulk stream and for 8 parallel streams, and req/s
// for 1 KB ping-pong on 50 concurrent streams.
//
//   bun scripts/bench-mux.ts [--mib 1024] [--seconds 3] [--only mem,ws,wss,tcp] [--procs 2] [--window 262144]
//
// "tcp" is the whole tunnel path in one process: a TCP client → public listener → pipe →
// stream → WebSocket → stream → pipe → TCP upstream (a sink or an echo server).
//
// --procs 1 (default) runs both ends in this process: the number is the mux's own CPU
// cost for both sides on one core. --procs 2 puts the server end in a child process (as
// in production, where spokes and pktriot are separate programs), using both cores.
import { parseArgs } from "node:util";
import { createMuxSession, type MuxSession, type MuxStream } from "../lib/mux/index.ts";
import { createMemoryTransportPair } from "../lib/mux/memory-transport.ts";
import { type BunSocketConnection, bunSocketHandlers } from "../lib/net/connection.ts";
import { dialTcp } from "../lib/net/dial-tcp.ts";
import { pipe } from "../lib/net/pipe.ts";
import { uploadToSink } from "./_tcp-sink.ts";
import { makeSelfSignedCert, type SelfSignedCert, wsSessionPair } from "../test/unit/mux/ws-harness.ts";
import { flushPending } from "../test/unit/net/flush-pending.ts";

const { values: args } = parseArgs({
  options: {
    mib: { type: "string", default: "1024" },
    seconds: { type: "string", default: "3" },
    only: { type: "string", default: "mem,ws,wss,tcp" },
    procs: { type: "string", default: "1" },
    window: { type: "string" },
    role: { type: "string" },
    port: { type: "string" },
    tls: { type: "boolean", default: false },
  },
});

const MIB = 1024 * 1024;
const TOTAL = Number(args.mib) * MIB;
const SECONDS = Number(args.seconds);
const WINDOW = args.window ? Number(args.window) : undefined;
// Incompressible payloads, so a transport that compressed (it should not) could not flatter the numbers.
const CHUNK = crypto.getRandomValues(new Uint8Array(64 * 1024));
const REQ = crypto.getRandomValues(new Uint8Array(1024));
const enc = new TextEncoder();
const dec = new TextDecoder();

// ---- the server end's behaviour (same in-process and in the child) ----------------------------

/** "sink": count and ack on end; "echo": send back what arrives. */
function serverOnStream(s: MuxStream, meta: Uint8Array): void {
  const kind = dec.decode(meta);
  if (kind === "sink") {
    let n = 0;
    s.ondata = (d) => (n += d.byteLength);
    s.onend = () => {
      s.write(enc.encode(String(n)));
      s.end();
    };
  } else {
    s.ondata = (d) => {
      if (!s.write(d)) s.pause();
    };
    s.ondrain = () => s.resume();
    s.onend = () => s.end();
  }
}

// ---- workloads (run on the client end) ---------------------------------------------------------

function sendBulk(s: MuxStream, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += CHUNK.byteLength;
        if (!s.write(CHUNK)) return;
      }
      s.ondrain = null;
      s.end();
    };
    let reply = "";
    s.ondata = (d) => (reply += dec.decode(d));
    s.onclose = (err) => {
      if (err) return reject(err);
      if (Number(reply) !== bytes) return reject(new Error(`server counted ${reply}, sent ${bytes}`));
      resolve();
    };
    s.ondrain = pump;
    pump();
  });
}

async function bulk(client: MuxSession, streams: number): Promise<number> {
  const per = Math.floor(TOTAL / streams / CHUNK.byteLength) * CHUNK.byteLength;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: streams }, () => sendBulk(client.openStream(enc.encode("sink")), per)));
  const secs = (performance.now() - t0) / 1000;
  return (per * streams) / MIB / secs;
}

/** Ends a ping-pong run; a timer flag keeps the clock read off the per-request path. */
function stopAfter(seconds: number): { stop: boolean } {
  const flag = { stop: false };
  setTimeout(() => (flag.stop = true), seconds * 1000);
  return flag;
}

/**
 * Requests per second over `concurrency` connections for SECONDS. `open` starts one
 * connection, sends the first request and passes every chunk it receives to `onData`,
 * which answers each whole reply with the next request, or ends once the run is over.
 */
async function pingPongRate(
  concurrency: number,
  open: (onData: (conn: { write(b: Uint8Array): unknown; end(): unknown }, d: Uint8Array) => void) => Promise<void>,
): Promise<number> {
  let count = 0;
  const run = stopAfter(SECONDS);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, () => {
      let got = 0;
      return open((conn, d) => {
        got += d.byteLength;
        if (got < REQ.byteLength) return;
        got -= REQ.byteLength;
        count++;
        if (!run.stop) conn.write(REQ);
        else conn.end();
      });
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

function pingPong(client: MuxSession, concurrency: number): Promise<number> {
  return pingPongRate(
    concurrency,
    (onData) =>
      new Promise<void>((resolve, reject) => {
        const s = client.openStream(enc.encode("echo"));
        s.ondata = (d) => onData(s, d);
        s.onclose = (err) => (err ? reject(err) : resolve());
        s.write(REQ);
      }),
  );
}

async function runAll(name: string, client: MuxSession): Promise<void> {
  const single = await bulk(client, 1);
  const eight = await bulk(client, 8);
  const rps = await pingPong(client, 50);
  console.log(
    `${name.padEnd(24)} 1 stream ${single.toFixed(0).padStart(6)} MB/s   8 streams ${eight.toFixed(0).padStart(6)} MB/s   ` +
      `1 KB ping-pong x50 ${Math.round(rps).toString().padStart(7)} req/s`,
  );
}

// ---- setups ----------------------------------------------------------------------------------------

async function memory(): Promise<void> {
  const [a, b] = createMemoryTransportPair({ highWaterMark: 4 * MIB });
  const server = createMuxSession({ transport: b, side: "server", initialWindow: WINDOW, onStream: serverOnStream });
  const client = createMuxSession({ transport: a, side: "client", initialWindow: WINDOW });
  await runAll("memory", client);
  client.close();
  void server;
}

async function websocketInProcess(tls: SelfSignedCert | undefined): Promise<void> {
  const p = await wsSessionPair({
    tls,
    server: { initialWindow: WINDOW, onStream: serverOnStream, keepalive: {} },
    client: { initialWindow: WINDOW, keepalive: {} },
  });
  if (p.clientWs.extensions) throw new Error(`unexpected websocket extensions: ${p.clientWs.extensions}`);
  await runAll(tls ? "wss, 1 process" : "ws, 1 process", p.client);
  p.stop();
}

/** The child: a Bun.serve WebSocket mux server; prints its port. */
async function serveChild(): Promise<void> {
  const { ServerWebSocketTransport, serverTransportHandlers } = await import("../lib/mux/index.ts");
  const tls = args.tls ? makeSelfSignedCert() : undefined;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    fetch: (req, srv) => (srv.upgrade(req, { data: { transport: null } }) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      data: {} as { transport: InstanceType<typeof ServerWebSocketTransport> | null },
      perMessageDeflate: false,
      maxPayloadLength: 64 * MIB,
      idleTimeout: 0,
      open(ws) {
        const transport = new ServerWebSocketTransport(ws);
        ws.data.transport = transport;
        createMuxSession({ transport, side: "server", initialWindow: WINDOW, onStream: serverOnStream });
      },
      ...serverTransportHandlers,
    },
  });
  console.log(`PORT ${server.port}`);
}

async function websocketTwoProcesses(tls: boolean): Promise<void> {
  const { WebSocketTransport } = await import("../lib/mux/index.ts");
  const child = Bun.spawn([process.execPath, import.meta.path, "--role", "server", ...(tls ? ["--tls"] : []), ...(WINDOW ? ["--window", String(WINDOW)] : [])], {
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const reader = child.stdout.getReader();
    let out = "";
    const deadline = performance.now() + 10_000;
    while (!/PORT \d+/.test(out)) {
      if (performance.now() > deadline) throw new Error("server child did not start");
      const { value, done } = await reader.read();
      if (done) throw new Error("server child exited");
      out += dec.decode(value);
    }
    const port = Number(/PORT (\d+)/.exec(out)![1]);
    const ws = new WebSocket(`${tls ? "wss" : "ws"}://127.0.0.1:${port}/`, {
      perMessageDeflate: false,
      tls: tls ? { rejectUnauthorized: false } : undefined,
    } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    if (ws.extensions) throw new Error(`unexpected websocket extensions: ${ws.extensions}`);
    const client = createMuxSession({ transport: new WebSocketTransport(ws), side: "client", initialWindow: WINDOW });
    await runAll(tls ? "wss, 2 processes" : "ws, 2 processes", client);
    client.close();
  } finally {
    child.kill();
  }
}

// ---- the whole path: TCP → pipe → mux over WebSocket → pipe → TCP ---------------------------------

type Up = { n: number; pending: Uint8Array[] };

/** Upstream TCP services: a sink that answers the byte count at EOF, and an echo server. */
function startUpstreams() {
  const common = { hostname: "127.0.0.1", port: 0, allowHalfOpen: true } as const;
  const sink = Bun.listen<Up>({
    ...common,
    socket: {
      open: (s) => void ((s.data = { n: 0, pending: [] }), s.setNoDelay(true)),
      data: (s, d) => void (s.data.n += d.byteLength),
      end: (s) => void (s.write(String(s.data.n)), s.end()),
    },
  });
  const echo = Bun.listen<Up>({
    ...common,
    socket: {
      open: (s) => void ((s.data = { n: 0, pending: [] }), s.setNoDelay(true)),
      data(s, d) {
        s.data.pending.push(d);
        if (!flushPending(s)) s.pause();
      },
      drain: (s) => void (flushPending(s) && s.resume()),
      end: (s) => void s.end(),
    },
  });
  return { sink, echo };
}

/** The client end dials the port named in the stream metadata and pipes (as the tunnel client does). */
function dialOnStream(stream: MuxStream, meta: Uint8Array): void {
  const port = Number(dec.decode(meta));
  stream.pause();
  void dialTcp("127.0.0.1", port).then((r) => (r.ok ? void pipe(stream, r.connection) : stream.reset()));
}

/** A public listener on the server end: every connection becomes a stream toward `targetPort`. */
function publicListener(server: MuxSession, targetPort: number) {
  return Bun.listen<{ connection?: BunSocketConnection }>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    data: {},
    socket: bunSocketHandlers((connection, socket) => {
      socket.setNoDelay(true);
      void pipe(connection, server.openStream(enc.encode(String(targetPort))));
    }),
  });
}

function tcpPingPong(port: number, concurrency: number): Promise<number> {
  return pingPongRate(
    concurrency,
    (onData) =>
      new Promise<void>((resolve, reject) => {
        void Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            open: (s) => void (s.setNoDelay(true), s.write(REQ)),
            data: onData,
            close: (_s, err) => (err ? reject(err) : resolve()),
          },
        });
      }),
  );
}

async function fullPath(tls: SelfSignedCert | undefined): Promise<void> {
  const ups = startUpstreams();
  const p = await wsSessionPair({
    tls,
    server: { initialWindow: WINDOW, keepalive: {} },
    client: { initialWindow: WINDOW, keepalive: {}, onStream: dialOnStream },
  });
  const pubSink = publicListener(p.server, ups.sink.port);
  const pubEcho = publicListener(p.server, ups.echo.port);
  const run = async (streams: number) => {
    const per = Math.floor(TOTAL / streams / CHUNK.byteLength) * CHUNK.byteLength;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: streams }, () => uploadToSink(pubSink.port, per, CHUNK)));
    return (per * streams) / MIB / ((performance.now() - t0) / 1000);
  };
  const single = await run(1);
  const eight = await run(8);
  const rps = await tcpPingPong(pubEcho.port, 50);
  console.log(
    `${(tls ? "tcp→wss→tcp, 1 process" : "tcp→ws→tcp, 1 process").padEnd(24)} 1 conn   ${single.toFixed(0).padStart(6)} MB/s   8 conns   ${eight.toFixed(0).padStart(6)} MB/s   ` +
      `1 KB ping-pong x50 ${Math.round(rps).toString().padStart(7)} req/s`,
  );
  for (const l of [pubSink, pubEcho, ups.sink, ups.echo]) l.stop(true);
  p.stop();
}

if (args.role === "server") {
  await serveChild();
} else {
  const only = new Set(String(args.only).split(","));
  const twoProcs = args.procs === "2";
  console.log(`mux bench: ${TOTAL / MIB} MiB bulk, ${SECONDS}s ping-pong, window ${WINDOW ?? "default (256 KiB)"}, Bun ${Bun.version}`);
  if (only.has("mem")) await memory();
  const cert = (only.has("wss") && !twoProcs) || only.has("tcp") ? makeSelfSignedCert() : undefined;
  if (only.has("ws")) await (twoProcs ? websocketTwoProcesses(false) : websocketInProcess(undefined));
  if (only.has("wss")) await (twoProcs ? websocketTwoProcesses(true) : websocketInProcess(cert));
  if (only.has("tcp")) {
    await fullPath(undefined);
    await fullPath(cert);
  }
  process.exit(0);
}
