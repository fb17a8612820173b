// The request-stream engine inside a minimal relay, driven by real clients (curl,
// fetch, WebSocket): a raw public listener routes each request by Host to one of
// two upstream Bun.serve backends, the way the server routes to tunnels.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createRequestStream, type RequestStream } from "../../../lib/http/request-stream.ts";
import { notFoundResponse } from "../../../lib/http/responses.ts";

type Backend = ReturnType<typeof Bun.serve>;
let backends: Record<string, Backend>;
let relay: TCPSocketListener<Conn>;

/** Writes with a queue so short writes and drain are honoured; `end` half-closes once flushed. */
class Writer {
  private queue: Uint8Array[] = [];
  private ending = false;
  constructor(private readonly sock: () => Socket<unknown> | null) {}
  end(): void {
    this.ending = true;
    this.flush();
  }
  write(b: Uint8Array): void {
    if (this.queue.length > 0 || !this.sock()) {
      this.queue.push(Buffer.from(b));
      return;
    }
    const n = this.sock()!.write(b);
    if (n < b.length) this.queue.push(Buffer.from(b.subarray(Math.max(n, 0))));
  }
  flush(): void {
    const s = this.sock();
    while (s && this.queue.length > 0) {
      const b = this.queue[0];
      const n = s.write(b);
      if (n < b.length) {
        this.queue[0] = b.subarray(Math.max(n, 0));
        return;
      }
      this.queue.shift();
    }
    if (s && this.ending && this.queue.length === 0) s.shutdown();
  }
}

interface Conn {
  stream: RequestStream;
  upstream: Socket<unknown> | null;
  toUpstream: Writer;
  toClient: Writer;
  route: string | null;
  /** Our own answer, written after the upstream's pending responses. */
  finalResponse: Uint8Array | null;
}

beforeAll(() => {
  const mk = (name: string) =>
    Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req, server) {
        if (req.headers.get("upgrade") === "websocket" && server.upgrade(req)) return;
        const body = req.method === "POST" ? await req.arrayBuffer() : new ArrayBuffer(0);
        return Response.json({
          backend: name,
          path: new URL(req.url).pathname,
          xff: req.headers.get("x-forwarded-for"),
          proto: req.headers.get("x-forwarded-proto"),
          bytes: body.byteLength,
        });
      },
      websocket: {
        message(ws, msg) {
          ws.send(`${name}:${msg}`);
        },
      },
    });
  backends = { "a.test": mk("a"), "b.test": mk("b") };

  relay = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const conn: Conn = {
          upstream: null,
          route: null,
          finalResponse: null,
          toUpstream: new Writer(() => conn.upstream),
          toClient: new Writer(() => client),
          stream: createRequestStream({
            onHead(head) {
              const backend = head.host ? backends[head.host] : undefined;
              if (!backend) return { action: "respond", response: notFoundResponse(head.host) };
              if (conn.route !== null && conn.route !== head.host) return { action: "stop" };
              if (conn.route === null) {
                conn.route = head.host;
                void Bun.connect({
                  hostname: "127.0.0.1",
                  port: backend.port!,
                  socket: {
                    open(up) {
                      conn.upstream = up;
                      conn.toUpstream.flush();
                    },
                    data(_up, d) {
                      conn.toClient.write(d);
                    },
                    drain() {
                      conn.toUpstream.flush();
                    },
                    close() {
                      if (conn.finalResponse) conn.toClient.write(conn.finalResponse);
                      client.end();
                    },
                  },
                });
              }
              return { action: "forward", forwardedFor: client.remoteAddress, forwardedProto: "http" };
            },
            onForward: (b) => conn.toUpstream.write(b),
            // As documented on the engine: let the responses to earlier requests
            // through (half-close the upstream), then answer and close.
            onEnd(end) {
              if (conn.route === null) {
                if (end.response) conn.toClient.write(end.response);
                client.end();
                return;
              }
              conn.finalResponse = end.response;
              conn.toUpstream.end();
            },
          }),
        };
        client.data = conn;
      },
      data(client, d) {
        client.data.stream.push(d);
      },
      drain(client) {
        client.data.toClient.flush();
      },
      close(client) {
        client.data.stream.close();
        client.data.upstream?.end();
      },
    },
  });
});

afterAll(() => {
  relay.stop(true);
  for (const b of Object.values(backends)) b.stop(true);
});

async function curl(args: string[]): Promise<{ out: string; err: string }> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "10", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`curl exited ${code}: ${err}`);
  return { out, err };
}

describe("request stream in a relay, with real clients", () => {
  test("curl: two requests on one kept-alive connection, routed by Host, X-Forwarded-* added", async () => {
    const port = relay.port;
    const { out, err } = await curl([
      "-v",
      "-w",
      "\\n",
      "--resolve",
      `a.test:${port}:127.0.0.1`,
      `http://a.test:${port}/one`,
      `http://a.test:${port}/two`,
    ]);
    expect(err).toMatch(/Re-?using existing/);
    const lines = out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { backend: "a", path: "/one", xff: "127.0.0.1", proto: "http", bytes: 0 },
      { backend: "a", path: "/two", xff: "127.0.0.1", proto: "http", bytes: 0 },
    ]);
  });

  test("curl: unknown host gets the 404 page", async () => {
    const { out } = await curl(["-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: nobody.test", `http://127.0.0.1:${relay.port}/`]);
    expect(out).toBe("404");
  });

  test("fetch: 5 MB POST body with Content-Length, then chunked", async () => {
    const big = new Uint8Array(5 * 1024 * 1024).fill(7);
    const res = await fetch(`http://127.0.0.1:${relay.port}/upload`, { method: "POST", body: big, headers: { Host: "b.test" } });
    expect(await res.json()).toMatchObject({ backend: "b", bytes: big.length });
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(100_000).fill(i));
        c.close();
      },
    });
    const res2 = await fetch(`http://127.0.0.1:${relay.port}/stream`, { method: "POST", body: chunked, headers: { Host: "b.test" } });
    expect(await res2.json()).toMatchObject({ backend: "b", bytes: 2_000_000 });
  });

  test("raw pipelined requests for two hosts: the first is answered, then the connection closes", async () => {
    const got: Buffer[] = [];
    const done = Promise.withResolvers<void>();
    await Bun.connect({
      hostname: "127.0.0.1",
      port: relay.port,
      socket: {
        open(s) {
          s.write("GET /first HTTP/1.1\r\nHost: a.test\r\n\r\nGET /second HTTP/1.1\r\nHost: b.test\r\n\r\n");
        },
        data(_s, d) {
          got.push(Buffer.from(d));
        },
        close() {
          done.resolve();
        },
      },
    });
    await done.promise;
    const text = Buffer.concat(got).toString();
    expect(text.match(/HTTP\/1\.1 200/g)?.length).toBe(1);
    expect(text).toContain('"path":"/first"');
    expect(text).not.toContain("/second");
  });

  test("WebSocket upgrade passes through", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${relay.port}/ws`, { headers: { Host: "a.test" } } as unknown as string[]);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send("ping");
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onerror = () => reject(new Error("websocket error"));
    });
    ws.close();
    expect(reply).toBe("a:ping");
  });
});
