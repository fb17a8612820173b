// TCP through allocated ports of a real tunnel: integrity (sha256 over 50 MB), many
// concurrent connections, a reader that never reads beside a busy stream, live forwards.
// maxPoolSize 1 puts every stream on one multiplexed connection, the hardest case for
// per-stream flow control.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { waitFor } from "../helpers.ts";
import { canConnect, configureClient, echoUpstream, mustRun, sha256, startServer, stopAll, tcpExchange, tcpUpstream, type TestClient, type TestServer } from "./_tunnel-harness.ts";

let server: TestServer;
let client: TestClient;
let echoPort: number;
let firehosePort: number;
let unforwardedPort: number;
/** Bytes the firehose upstream handed to the kernel, per connection. */
const firehoseWritten: number[] = [];
/** The stuck visitor's firehose connection is the only one that grows (probes close at once). */
const stuckBytes = () => Math.max(0, ...firehoseWritten);

beforeAll(async () => {
  server = await startServer({ config: { tunOptions: { maxPoolSize: 1, maxPorts: 5 } } });
  const echo = await echoUpstream();
  // Writes as fast as it is allowed to, forever: a source for a visitor who never reads.
  const firehose = await tcpUpstream((s) => {
    const i = firehoseWritten.push(0) - 1;
    const chunk = randomBytes(64 * 1024);
    const pump = () => {
      while (!s.destroyed && s.write(chunk)) firehoseWritten[i]! += chunk.length;
      if (!s.destroyed) firehoseWritten[i]! += chunk.length;
    };
    s.on("drain", pump);
    pump();
  });
  client = await configureClient(server);
  echoPort = await client.allocatePort();
  firehosePort = await client.allocatePort();
  unforwardedPort = await client.allocatePort();
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(echoPort), "--destination", "127.0.0.1", "--dstport", String(echo.port)]);
  await client.start();
  // The second forward is added while the client runs: rule changes apply live.
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(firehosePort), "--dstport", String(firehose.port)]);
  await waitFor(() => canConnect(firehosePort), "the live-added forward to open on the server");
});

afterAll(stopAll);

describe("TCP through allocated ports", () => {
  test("sha256 of 50 MB echoed through the tunnel matches", async () => {
    const data = randomBytes(50 * 1024 * 1024);
    const started = Date.now();
    const r = await tcpExchange(echoPort, data);
    const ms = Date.now() - started;
    expect(r.bytes).toBe(data.length);
    expect(r.sha256).toBe(sha256(data));
    console.log(`50 MB echo through the tunnel: ${ms} ms (${((2 * 50) / (ms / 1000)).toFixed(0)} MB/s both ways)`);
  });

  test("20 concurrent connections each get their own bytes back", async () => {
    const payloads = Array.from({ length: 20 }, (_, i) => Buffer.concat([Buffer.from(`connection ${i}:`), randomBytes(256 * 1024 + i * 997)]));
    const results = await Promise.all(payloads.map((p) => tcpExchange(echoPort, p)));
    results.forEach((r, i) => {
      expect(r.bytes).toBe(payloads[i]!.length);
      expect(r.received.equals(payloads[i]!)).toBe(true);
    });
  });

  test("a connection that never reads does not block another stream on the same tunnel connection", async () => {
    const stuck: Socket = connect({ host: "127.0.0.1", port: firehosePort });
    try {
      stuck.pause();
      stuck.on("error", () => {});
      // The firehose is stalled once it has pushed a window's worth and stopped growing.
      await waitFor(() => stuckBytes() > 1024 * 1024, "the firehose to start", 10_000);
      let last = -1;
      await waitFor(
        async () => {
          const now = stuckBytes();
          const stalled = now === last;
          last = now;
          if (!stalled) await Bun.sleep(200);
          return stalled;
        },
        "the firehose to stall on backpressure",
        15_000,
        0,
      );
      const data = randomBytes(10 * 1024 * 1024);
      const started = Date.now();
      const r = await tcpExchange(echoPort, data, 10_000);
      const ms = Date.now() - started;
      expect(r.sha256).toBe(sha256(data));
      expect(ms).toBeLessThan(5_000);
      // Nothing unbounded is buffered for the reader that never reads (what is in flight is
      // mostly kernel socket buffers on both ends, which loopback autotuning grows to MBs).
      expect(stuckBytes()).toBeLessThan(64 * 1024 * 1024);
      console.log(`10 MB beside a stalled stream: ${ms} ms; the stalled stream holds ${(stuckBytes() / 1048576).toFixed(1)} MB in flight`);
    } finally {
      stuck.destroy();
    }
  });

  test("an allocated port without a forward refuses connections", async () => {
    expect(await canConnect(unforwardedPort)).toBe(false);
  });

  test("a forward removed while the client runs closes its port", async () => {
    await mustRun(client, ["tunnel", "tcp", "rm", "--port", String(firehosePort)]);
    await waitFor(async () => !(await canConnect(firehosePort)), "the port to close after tcp rm");
    // The other forward is untouched.
    const r = await tcpExchange(echoPort, Buffer.from("still here"));
    expect(r.received.toString()).toBe("still here");
  });

  test("traffic is accounted to the tunnel (bandwidth written by the periodic stats flush)", async () => {
    const row = await waitFor(() => {
      const t = server.json<{ id: string; bandwidth: { daily: number; monthly: number } }[]>(["tunnel", "ls", "--json"]).find((x) => x.id === client.tunnelId);
      return t && t.bandwidth.daily >= 100 * 1024 * 1024 ? t : null;
    }, "bandwidth of the 50 MB echo", 12_000, 500);
    expect(row.bandwidth.monthly).toBeGreaterThanOrEqual(row.bandwidth.daily);
  });
});
