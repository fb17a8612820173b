// The hello deadline is the client's, not the server's: a hello that arrived in time is
// welcomed even when the server's own work (queued database writes while a whole fleet
// reconnects after a crash) takes longer than that deadline. Found by
// scripts/soak-reconnect.ts: 1,000 clients reconnecting at once were cut off with
// "4000 no hello" while their welcome waited on the database, and went into backoff.
import { afterEach, expect, test } from "bun:test";
import { TUNNEL_CONTROL_PATH } from "../../../../lib/client-api/paths.ts";
import { defaultClientConfig } from "../../../../lib/client-config/types.ts";
import { createTunnelClient } from "../../../../lib/tunnel/client/client.ts";
import { createTunnelServer, type TunnelServerHooks } from "../../../../lib/tunnel/server/server.ts";
import { waitFor } from "../../../helpers.ts";
import { serveTunnelEngine } from "./serve-engine.ts";

const TUNNEL_ID = "b".repeat(32);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A tunnel server whose rules check takes `checkRulesMs` (forever when null). */
function serve(opts: { checkRulesMs: number | null; helloTimeoutMs: number; welcomeTimeoutMs?: number }) {
  const calls = { login: 0, online: 0 };
  const hooks: TunnelServerHooks = {
    login: async () => (calls.login++, { ok: true, login: { tunnelId: TUNNEL_ID, userId: null, hostname: "" } }),
    checkRules: (_login, https, ports) =>
      opts.checkRulesMs === null ? new Promise(() => {}) : Bun.sleep(opts.checkRulesMs).then(() => ({ https, ports, refused: [] })),
    online: async () => void calls.online++,
    offline: async () => {},
    rulesChanged: async () => {},
    portsChanged: () => {},
    meshStream: (_t, stream) => stream.reset(),
    poolSize: () => 1,
    monitorSeconds: () => 0,
    helloTimeoutMs: opts.helloTimeoutMs,
    welcomeTimeoutMs: opts.welcomeTimeoutMs,
    log: { info: () => {}, warn: () => {} },
  };
  const { engine, port } = serveTunnelEngine(createTunnelServer(hooks), cleanups);
  return { engine, calls, port };
}

/** A control connection that says nothing: resolves with its close code and reason. */
function silentControl(port: number): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${TUNNEL_CONTROL_PATH}`, { headers: { authorization: "Bearer k" } } as never);
  cleanups.push(() => ws.close());
  return new Promise((resolve) => ws.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason })));
}

/** A started tunnel client (the real engine) with its warnings and states recorded. */
function startClient(port: number, backoffMs: number) {
  const states: string[] = [];
  const warnings: string[] = [];
  const c = createTunnelClient({
    serverUrl: `ws://127.0.0.1:${port}`,
    key: "k",
    tls: async () => undefined,
    info: { os: "linux", arch: "x64", version: "test" },
    config: { ...defaultClientConfig(), key: "k", serverHost: `127.0.0.1:${port}` },
    verifyPassword: async () => false,
    log: { info: () => {}, warn: (m) => void warnings.push(m), error: () => {} },
    onState: (st) => void states.push(st),
    backoff: { minMs: backoffMs, maxMs: backoffMs },
  });
  cleanups.push(() => c.stop());
  c.start();
  return { c, states, warnings };
}

test("a welcome slower than the hello deadline still brings the tunnel online on the first attempt", async () => {
  const s = serve({ checkRulesMs: 600, helloTimeoutMs: 150 });
  const { c, states, warnings } = startClient(s.port, 20);
  await waitFor(() => c.state === "online", "the client online", 5000);
  expect(warnings).toEqual([]);
  expect(states).toEqual(["connecting", "online"]);
  expect(s.calls).toEqual({ login: 1, online: 1 });
  expect(s.engine.registry.byId(TUNNEL_ID)?.online).toBe(true);
});

test("a connection that never says hello is still closed at the hello deadline", async () => {
  const s = serve({ checkRulesMs: 0, helloTimeoutMs: 150 });
  const started = performance.now();
  expect(await silentControl(s.port)).toEqual({ code: 4000, reason: "no hello" });
  expect(performance.now() - started).toBeLessThan(3000);
  expect(s.calls.online).toBe(0);
});

test("a welcome that never finishes is cut at the welcome deadline, nothing routed", async () => {
  const s = serve({ checkRulesMs: null, helloTimeoutMs: 100, welcomeTimeoutMs: 400 });
  const { warnings } = startClient(s.port, 5000);
  await waitFor(() => warnings.length > 0, "the client disconnected", 5000);
  expect(warnings[0]).toContain("4000 welcome timed out");
  expect([...s.engine.registry.all()]).toEqual([]);
  expect(s.calls.online).toBe(0);
});
