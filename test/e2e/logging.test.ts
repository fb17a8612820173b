// Log level and format of both executables: `--log-format json` / SPOKES_LOG_FORMAT gives
// one JSON object per line with the stable keys, `--log-level` filters, bad values are
// one-line errors. Through the real dist/ executables and a real tunnel.
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PKTRIOT_BIN, SPOKES_BIN, freePort, run, tempDir, waitFor, writeServerConfig } from "../helpers.ts";
import { canConnect, configureClient, spawnLogged, startServer, stopAll, type ProcessLog, type TestServer } from "./_tunnel-harness.ts";

afterAll(stopAll);

const KEYS = ["time", "level", "msg", "tunnel", "remote", "service"];

/** Every line of the log parsed as JSON (a line that is not JSON fails the test). */
function jsonLines(log: ProcessLog): Record<string, unknown>[] {
  return log.text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
}

test("server and client write one JSON object per line with the stable keys", async () => {
  const server = await startServer({ env: { SPOKES_LOG_FORMAT: "json" } });
  const client = await configureClient(server);
  await client.start({ PKTRIOT_LOG_FORMAT: "json" });
  await server.log.waitFor(`tunnel ${client.tunnelId} online`);

  const lines = jsonLines(server.log);
  expect(lines.length).toBeGreaterThan(1);
  for (const l of lines) {
    expect(Object.keys(l)).toEqual(KEYS);
    expect(Number.isNaN(Date.parse(String(l.time)))).toBe(false);
    expect(["fatal", "error", "warn", "info", "debug", "trace"]).toContain(l.level as string);
  }
  const serving = lines.find((l) => String(l.msg).startsWith("spokes ") && String(l.msg).includes("serving spokes.test"));
  expect(serving?.level).toBe("info");
  const online = lines.find((l) => String(l.msg).includes(`tunnel ${client.tunnelId} online`));
  expect(online).toMatchObject({ level: "info", tunnel: client.tunnelId, remote: "127.0.0.1" });

  const clientLines = jsonLines(client.log);
  expect(clientLines.some((l) => String(l.msg).includes(`tunnel ${client.tunnelId} online`))).toBe(true);
  for (const l of clientLines) expect(Object.keys(l)).toEqual(KEYS);
});

test("--log-level warn (given after the subcommand) hides the info lines of the same run", async () => {
  const dir = tempDir();
  const [http, https] = [await freePort(), await freePort()];
  const config = writeServerConfig(dir, { listen: { address: "127.0.0.1", http, https } });
  const { proc, log } = spawnLogged([SPOKES_BIN, "serve", "--config", config, "--log-level", "warn", "--log-format", "json"]);
  await waitFor(() => canConnect(https), "the HTTPS port");
  const key = run(SPOKES_BIN, ["token", "create", "--config", config]).stdout.trim().split("\n").at(-1)!;
  await waitFor(() => existsSync(join(dir, "tls", "self-signed.crt")), "the certificate");
  const server = { address: "127.0.0.1", httpsPort: https, caPath: join(dir, "tls", "self-signed.crt") } as TestServer;
  const client = await configureClient(server, { key });
  // The server logs "online" before the client hears it is online (same tick as the reply).
  await client.start();
  expect(proc.exitCode).toBeNull();
  expect(log.text).not.toContain("online");
  expect(log.text).not.toContain("serving");
  for (const l of jsonLines(log)) expect(["warn", "error", "fatal"]).toContain(l.level as string);
});

test("bad log flags and variables are one-line errors", () => {
  const dir = tempDir();
  const config = writeServerConfig(dir);
  const flag = run(SPOKES_BIN, ["users", "ls", "--config", config, "--log-level", "loud"]);
  expect(flag.code).toBe(2);
  expect(flag.stderr.trim()).toBe('error: --log-level must be one of silent, error, warn, info, debug, trace (got "loud")');
  const env = run(PKTRIOT_BIN, ["version"], { env: { PKTRIOT_LOG_FORMAT: "xml" } });
  expect(env.code).toBe(1);
  expect(env.stderr.trim()).toBe('error: environment variable PKTRIOT_LOG_FORMAT must be text or json (got "xml")');
  expect(run(SPOKES_BIN, ["--log-format=json", "version"]).code).toBe(0);
});
