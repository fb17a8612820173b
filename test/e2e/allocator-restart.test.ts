// The long-running commands restart once in place with Bun's allocator tuned
// (commands/_tuned-allocator.ts): same PID, same arguments, the settings in the environment,
// and the command then runs as usual. A user's own setting wins and means no restart.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { PKTRIOT_BIN, SPOKES_BIN } from "../helpers.ts";
import { configureClient, startServer, stopAll } from "./_tunnel-harness.ts";

const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter((v) => v.startsWith("MIMALLOC_")).sort();
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").slice(0, -1);

afterAll(stopAll);

describe("allocator settings of the long-running commands", () => {
  test("spokes serve and pktriot start run with them, under their own PID and arguments, and carry traffic", async () => {
    const server = await startServer();
    expect(environ(server.proc.pid)).toEqual(["MIMALLOC_PURGE_DELAY=1000", "MIMALLOC_PURGE_HOLES=0"]);
    expect(cmdline(server.proc.pid)).toEqual([SPOKES_BIN, "serve", "--config", server.configPath]);
    const client = await configureClient(server);
    await client.start();
    expect(environ(client.proc!.pid)).toEqual(["MIMALLOC_PURGE_DELAY=1000", "MIMALLOC_PURGE_HOLES=0"]);
    expect(cmdline(client.proc!.pid)).toEqual([PKTRIOT_BIN, "--config", client.configPath, "start"]);
    expect(server.tunnel(client.tunnelId)?.online).toBe(true);
  }, 60_000);

  test("a setting of the user's own is kept as given, and nothing is added", async () => {
    const server = await startServer({ env: { MIMALLOC_PURGE_DELAY: "100" } });
    expect(environ(server.proc.pid)).toEqual(["MIMALLOC_PURGE_DELAY=100"]);
  }, 60_000);
});
