// `pktriot start`: runs the tunnel in the foreground until SIGINT/SIGTERM.
import { defineCommand } from "citty";
import { consola } from "consola";
import { findClientConfigPath, loadClientConfig, updateClientConfig, verifyRulePassword, watchClientConfig } from "../lib/client-config/index.ts";
import { applyRemoteChange } from "../lib/client-config/remote-change.ts";
import { parseServerHost } from "../lib/client-api/server-host.ts";
import { fetchTlsOptions, trustFromConfig, INSECURE_WARNING } from "../lib/client-api/trust.ts";
import { UserError, errorMessage } from "../lib/errors.ts";
import { createTunnelClient } from "../lib/tunnel/client.ts";
import { VERSION } from "../lib/version.ts";
import { configArgs, configFlag } from "./_shared.ts";

/** A positive number of milliseconds from the environment, or undefined. */
const envMs = (name: string): number | undefined => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : undefined;
};

export default defineCommand({
  meta: { name: "start", description: "Connect to the server and serve the tunnel's traffic rules" },
  args: { ...configArgs },
  async run({ args }) {
    const path = findClientConfigPath({ flag: configFlag(args) });
    const config = loadClientConfig(path);
    if (!config.key || !config.serverHost) throw new UserError(`${path} has no server or key; run pktriot unmanaged configure first`);
    const server = parseServerHost(config.serverHost);
    const trust = trustFromConfig(config);
    if (trust.kind === "insecure") consola.warn(INSECURE_WARNING);

    // Test hooks: a shorter reconnect backoff and heartbeat (timeout three intervals).
    const backoffMax = envMs("PKTRIOT_BACKOFF_MAX_MS");
    const keepaliveMs = envMs("PKTRIOT_KEEPALIVE_MS");
    const client = createTunnelClient({
      serverUrl: `wss://${server.hostPort}`,
      key: config.key,
      tls: async () => (await fetchTlsOptions(server, trust, 15_000)) as Record<string, unknown> | undefined,
      info: { os: process.platform, arch: process.arch, version: VERSION },
      config,
      verifyPassword: verifyRulePassword,
      // Remote management (SPEC 2.3): apply, validate and save; the engine re-announces.
      applyRemoteChange: async (change) => {
        const { config: next } = await updateClientConfig(path, (current) => {
          const changed = applyRemoteChange(current, change as Parameters<typeof applyRemoteChange>[1]);
          Object.assign(current, changed);
        });
        consola.info("applied a rule change from the server");
        return next;
      },
      backoff: backoffMax ? { minMs: Math.min(1000, backoffMax), maxMs: backoffMax } : undefined,
      keepalive: keepaliveMs ? { intervalMs: keepaliveMs, timeoutMs: 3 * keepaliveMs } : undefined,
      log: { info: (m) => consola.info(m), warn: (m) => consola.warn(m), error: (m) => consola.error(m) },
      onState: (state, detail) => {
        if (state === "connecting") consola.info(`connecting to ${server.hostPort}`);
        else if (state === "offline" && detail) consola.debug(detail);
      },
    });
    const watcher = watchClientConfig(path, (next) => {
      consola.info("configuration changed; applying");
      client.setConfig(next);
    }, { onError: (err) => consola.warn(`configuration change ignored: ${errorMessage(err)}`) });

    consola.info(`pktriot ${VERSION} using ${path}`);
    client.start();
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      consola.info(`${signal}: stopping`);
      watcher.close();
      await client.stop();
      process.exit(0);
    };
    process.on("SIGINT", () => void stop("SIGINT"));
    process.on("SIGTERM", () => void stop("SIGTERM"));
    await new Promise(() => {});
  },
});
