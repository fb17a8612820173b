// A hook that fails while a tunnel logs in (a database error) must not leave an unhandled
// rejection or a routed tunnel that was never welcomed: the client is told, the session is
// closed, and the client's retry succeeds once the database is back.
import { afterEach, expect, test } from "bun:test";
import { defaultClientConfig } from "../../../../lib/client-config/types.ts";
import { createTunnelClient, type TunnelClient } from "../../../../lib/tunnel/client/client.ts";
import { createTunnelServer, LOGIN_ERROR_REASON, type TunnelServerHooks } from "../../../../lib/tunnel/server/server.ts";
import { waitFor } from "../../../helpers.ts";
import { serveTunnelEngine } from "./serve-engine.ts";

const TUNNEL_ID = "a".repeat(32);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Which hook fails (once per listed call number) and what the engine did. */
function harness(fail: { login?: number[]; checkRules?: number[]; online?: number[] }) {
  const calls = { login: 0, checkRules: 0, online: 0, offline: 0 };
  const warnings: string[] = [];
  const boom = (hook: keyof typeof fail) => {
    calls[hook]++;
    if (fail[hook]?.includes(calls[hook])) throw new Error(`SQLITE_BUSY: database is locked (${hook})`);
  };
  const hooks: TunnelServerHooks = {
    login: async () => (boom("login"), { ok: true, login: { tunnelId: TUNNEL_ID, userId: null, hostname: "" } }),
    checkRules: async (_login, https, ports) => (boom("checkRules"), { https, ports, refused: [] }),
    online: async () => boom("online"),
    offline: async () => void calls.offline++,
    rulesChanged: async () => {},
    portsChanged: () => {},
    meshStream: (_t, stream) => stream.reset(),
    poolSize: () => 1,
    monitorSeconds: () => 0,
    log: { info: () => {}, warn: (m) => void warnings.push(m) },
  };
  const { engine, port } = serveTunnelEngine(createTunnelServer(hooks), cleanups);
  return { engine, calls, warnings, port };
}

function client(port: number) {
  const errors: string[] = [];
  const states: string[] = [];
  const config = { ...defaultClientConfig(), key: "k", serverHost: `127.0.0.1:${port}` };
  const c: TunnelClient = createTunnelClient({
    serverUrl: `ws://127.0.0.1:${port}`,
    key: "k",
    tls: async () => undefined,
    info: { os: "linux", arch: "x64", version: "test" },
    config,
    verifyPassword: async () => false,
    log: { info: () => {}, warn: () => {}, error: (m) => void errors.push(m) },
    onState: (s) => void states.push(s),
    backoff: { minMs: 20, maxMs: 50 },
  });
  cleanups.push(() => c.stop());
  c.start();
  return { c, errors, states };
}

const unhandled: unknown[] = [];
process.on("unhandledRejection", (err) => void unhandled.push(err));

for (const hook of ["login", "checkRules", "online"] as const) {
  test(`a failing ${hook} hook: logged, the client is refused with the reason, nothing stays routed, the retry succeeds`, async () => {
    const h = harness({ [hook]: [1] });
    const { c, errors } = client(h.port);
    await waitFor(() => errors.length > 0, "the refusal printed by the client");
    expect(errors[0]).toBe(`server refused the tunnel: ${LOGIN_ERROR_REASON}`);
    expect(h.warnings.some((w) => w.includes(`SQLITE_BUSY: database is locked (${hook})`))).toBe(true);
    // Second attempt: the hooks work again and the tunnel comes online, routed exactly once.
    await waitFor(() => c.state === "online", "the client online after its retry");
    expect(errors).toHaveLength(1);
    expect([...h.engine.registry.all()].map((t) => t.tunnelId)).toEqual([TUNNEL_ID]);
    expect(h.engine.registry.byId(TUNNEL_ID)!.online).toBe(true);
    expect(unhandled).toEqual([]);
  });
}

test("while the database keeps failing, the tunnel is never routed", async () => {
  const h = harness({ online: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20] });
  const { c, errors } = client(h.port);
  const seen: number[] = [];
  await waitFor(() => {
    seen.push([...h.engine.registry.all()].length);
    return h.calls.online >= 3;
  }, "three failed logins");
  // The registry may hold the tunnel only between `online` being called and its failure;
  // after each failure it is gone again, and the client never saw a welcome.
  await waitFor(() => [...h.engine.registry.all()].length === 0, "nothing routed after a failure");
  expect(c.state).not.toBe("online");
  expect(errors.every((e) => e === `server refused the tunnel: ${LOGIN_ERROR_REASON}`)).toBe(true);
  expect(h.calls.offline).toBeGreaterThanOrEqual(1);
  expect(unhandled).toEqual([]);
});
