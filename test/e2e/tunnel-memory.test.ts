// Memory of the real server (dist/spokes) under the worst mix: a visitor that never reads
// while its upstream writes as fast as it may, beside a bulk upload on the same tunnel,
// with the client connected through the HTTPS front door (in-process TLS and WebSocket).
// Bounded by construction means: the stalled source gets only a bounded number of bytes
// out (back-pressure reaches it), and the server's RSS stays bounded while a bulk transfer
// many times that size goes through. The RSS limit is generous (a loaded CI machine
// collects garbage late); a server that buffered for the stuck visitor would cross it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { firehoseUpstream, sinkUpstream, upload } from "./_bulk-upload.ts";
import { waitFor } from "../helpers.ts";
import { configureClient, mustRun, startServer, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";

let server: TestServer;
let client: TestClient;
let firehosePort: number;
let sinkPort: number;
let firehoseWritten = 0;
let sinkReceived = 0;

const rssKiB = (pid: number, field = "VmRSS") => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);

beforeAll(async () => {
  server = await startServer();
  const firehose = await firehoseUpstream((n) => (firehoseWritten += n));
  const sink = await sinkUpstream((n) => (sinkReceived += n));
  client = await configureClient(server);
  firehosePort = await client.allocatePort();
  sinkPort = await client.allocatePort();
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(firehosePort), "--dstport", String(firehose.port)]);
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(sinkPort), "--dstport", String(sink.port)]);
  await client.start();
}, 60_000);

afterAll(stopAll);


describe("server memory", () => {
  test("a never-reading visitor beside a 512 MiB upload: the stuck source is held back and the server's RSS stays bounded", async () => {
    const pid = server.proc.pid;
    const stuck: Socket = connect({ host: "127.0.0.1", port: firehosePort });
    stuck.on("error", () => {});
    stuck.pause();
    try {
      await waitFor(() => firehoseWritten > 1024 * 1024, "the firehose to start", 15_000);
      const before = rssKiB(pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 50);
      const BULK = 512 * 1024 * 1024;
      try {
        await upload("127.0.0.1", sinkPort, BULK);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, rssKiB(pid, "VmHWM"));
      await waitFor(() => sinkReceived >= BULK, "the sink to get every byte", 30_000);
      const grewMiB = (peak - before) / 1024;
      console.log(`server RSS ${(before / 1024).toFixed(0)} MiB before, peak ${(peak / 1024).toFixed(0)} MiB (+${grewMiB.toFixed(0)}); the stuck visitor's source got ${(firehoseWritten / 1048576).toFixed(1)} MiB out`);
      // Back-pressure reached the stuck source: kernel buffers on both legs plus one window.
      expect(firehoseWritten).toBeLessThan(64 * 1024 * 1024);
      // The upload is 512 MiB; the server holds a bounded amount of it at any time.
      expect(grewMiB).toBeLessThan(192);
      expect(peak / 1024).toBeLessThan(320);
    } finally {
      stuck.destroy();
    }
  }, 180_000);
});
