// The client's pool of data connections (tunOptions.maxPoolSize): it starts with the
// control connection alone and opens more, up to the server's limit, as concurrent
// streams grow; streams spread over them and keep their own bytes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { configureClient, echoUpstream, mustRun, sha256, startServer, stopAll, type TestClient, type TestServer } from "./_tunnel-harness.ts";

let server: TestServer;
let client: TestClient;
let port: number;

beforeAll(async () => {
  server = await startServer({ config: { tunOptions: { maxPoolSize: 3, maxPorts: 2 } } });
  const echo = await echoUpstream();
  client = await configureClient(server);
  port = await client.allocatePort();
  await mustRun(client, ["tunnel", "tcp", "forward", "--port", String(port), "--destination", "127.0.0.1", "--dstport", String(echo.port)]);
  await client.start({ PKTRIOT_POOL_IDLE_MS: "300" });
});
afterAll(stopAll);

/** Opens a connection, sends `data`, resolves with the echo's sha256 once `data.length` bytes came back (socket left open). */
function echoOpen(data: Buffer): Promise<{ socket: Socket; digest: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const socket = connect({ host: "127.0.0.1", port }, () => socket.write(data));
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got === data.length) resolve({ socket, digest: sha256(Buffer.concat(chunks)) });
    });
    socket.on("error", reject);
  });
}

test("concurrent streams grow the pool to maxPoolSize data connections, each stream intact", async () => {
  expect(client.log.text).not.toContain("data connection 2/3");
  const open: Socket[] = [];
  // More concurrent streams than one connection takes (32) twice over, held open.
  for (let round = 0; round < 3; round++) {
    const payloads = Array.from({ length: 40 }, () => randomBytes(32 * 1024));
    const results = await Promise.all(payloads.map(echoOpen));
    results.forEach((r, i) => expect(r.digest).toBe(sha256(payloads[i]!)));
    open.push(...results.map((r) => r.socket));
  }
  await client.log.waitFor("data connection 3/3 open");
  expect(client.log.text).toContain("data connection 2/3 open");
  expect(client.log.text).not.toContain("data connection 4/");
  for (const s of open) s.destroy();
  // Idle again: the extra data connections close, the control connection stays.
  await client.log.waitFor("idle data connection closed (1/3 open)");
  const after = await echoOpen(Buffer.from("still here"));
  expect(after.digest).toBe(sha256(Buffer.from("still here")));
  after.socket.destroy();
});
