// The tunnel server and client engines wired to each other in-process: every connection
// the client makes is an in-memory transport pair whose server end goes to
// `server.accept(...)`. Hooks record what the server did; each side has its own fake clock.
import { defaultClientConfig, type ClientConfig } from "../../../lib/client-config/types.ts";
import type { KeepaliveOptions } from "../../../lib/mux/session.ts";
import { createMemoryTransportPair, type MemoryTransport } from "../../../lib/mux/memory-transport.ts";
import { createTunnelClient, type TunnelClient, type TunnelClientOptions, type TunnelEndpoint } from "../../../lib/tunnel/client/client.ts";
import type { RuleRefusal } from "../../../lib/tunnel/messages.ts";
import { createTunnelServer, type LiveTunnel, type TunnelConnectionRequest, type TunnelServer, type TunnelServerHooks } from "../../../lib/tunnel/server/server.ts";
import { waitFor } from "../../helpers.ts";
import { FakeClock } from "./fake-clock.ts";

export const TUNNEL_A = "a".repeat(32);
export const TUNNEL_B = "b".repeat(32);
/** Auth tokens the fake login knows, and the tunnel each belongs to. */
export const KEYS: Record<string, string> = { "key-a": TUNNEL_A, "key-b": TUNNEL_B };

/** Effectively no keepalive (the clocks only move when a test advances them). */
const QUIET: KeepaliveOptions = { intervalMs: 3_600_000, timeoutMs: 3 * 3_600_000 };

export interface ServerRecord {
  online: string[];
  offline: string[];
  /** Config each rulesChanged call carried, in order. */
  rulesChanged: { tunnelId: string; domains: string[]; config: unknown }[];
  logins: number;
  info: string[];
}

export interface InMemoryServer {
  engine: TunnelServer;
  clock: FakeClock;
  record: ServerRecord;
  /** The routed tunnel with this id, when online. */
  tunnel(id: string): LiveTunnel | undefined;
}

export function startServer(opts: { poolSize?: number; keepalive?: Partial<KeepaliveOptions>; refuseDomains?: string[] } = {}): InMemoryServer {
  const clock = new FakeClock();
  const record: ServerRecord = { online: [], offline: [], rulesChanged: [], logins: 0, info: [] };
  const hooks: TunnelServerHooks = {
    async login(key) {
      record.logins++;
      const tunnelId = KEYS[key];
      return tunnelId ? { ok: true, login: { tunnelId, userId: null, hostname: "" } } : { ok: false, reason: "unknown auth token" };
    },
    async checkRules(_login, https, ports) {
      const refused: RuleRefusal[] = https.filter((h) => opts.refuseDomains?.includes(h.domain)).map((h) => ({ rule: h.domain, reason: "not allowed here" }));
      return { https: https.filter((h) => !opts.refuseDomains?.includes(h.domain)), ports, refused };
    },
    online: async (t) => void record.online.push(t.tunnelId),
    offline: async (t) => void record.offline.push(t.tunnelId),
    rulesChanged: async (t, config) => void record.rulesChanged.push({ tunnelId: t.tunnelId, domains: t.https.map((h) => h.domain), config }),
    portsChanged: () => {},
    meshStream: (_t, stream) => stream.reset(),
    poolSize: () => opts.poolSize ?? 1,
    monitorSeconds: () => 0,
    keepalive: opts.keepalive ?? QUIET,
    clock,
    log: { info: (m) => void record.info.push(m), warn: (m) => void record.info.push(m) },
  };
  const engine = createTunnelServer(hooks);
  return { engine, clock, record, tunnel: (id) => engine.registry.byId(id) };
}

export interface InMemoryClient {
  client: TunnelClient;
  clock: FakeClock;
  /** Every connection the client asked for, and the client end of those that were made. */
  connections: { endpoint: TunnelEndpoint; transport?: MemoryTransport }[];
  errors: string[];
  warnings: string[];
  states: string[];
  /** The client end of the current control connection. */
  control(): MemoryTransport | undefined;
}

export function startClient(
  server: InMemoryServer,
  opts: {
    key?: string;
    config?: ClientConfig;
    failConnects?: number;
    /** More servers by URL (cluster nodes): the client's failover addresses, `server` being `memory://server`. */
    failover?: Record<string, InMemoryServer>;
    /** URLs whose connects fail (a node that is down), changed by the test as it goes. */
    down?: Set<string>;
  } & Partial<Pick<TunnelClientOptions, "applyRemoteChange" | "keepalive" | "streamsPerConnection" | "poolIdleCheckMs" | "backoff">> = {},
): InMemoryClient {
  const clock = new FakeClock();
  const key = opts.key ?? "key-a";
  const connections: InMemoryClient["connections"] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  const states: string[] = [];
  let failures = opts.failConnects ?? 0;
  const nodes: Record<string, InMemoryServer> = { "memory://server": server, ...opts.failover };
  const client = createTunnelClient({
    serverUrl: "memory://server",
    failoverUrls: Object.keys(opts.failover ?? {}),
    key,
    tls: async () => undefined,
    info: { os: "linux", arch: "x64", version: "test" },
    config: opts.config ?? { ...defaultClientConfig(), key },
    verifyPassword: async () => false,
    log: { info: () => {}, warn: (m) => void warnings.push(m), error: (m) => void errors.push(m) },
    onState: (s, detail) => void states.push(detail ? `${s}: ${detail}` : s),
    applyRemoteChange: opts.applyRemoteChange,
    backoff: opts.backoff ?? { minMs: 1_000, maxMs: 8_000 },
    keepalive: opts.keepalive ?? QUIET,
    streamsPerConnection: opts.streamsPerConnection,
    poolIdleCheckMs: opts.poolIdleCheckMs,
    clock,
    async connect(endpoint) {
      const entry: InMemoryClient["connections"][number] = { endpoint };
      connections.push(entry);
      const url = endpoint.server ?? "memory://server";
      if (failures > 0 || opts.down?.has(url)) {
        failures--;
        throw new Error(`cannot connect to ${url}: connection refused`);
      }
      const [clientEnd, serverEnd] = createMemoryTransportPair();
      entry.transport = clientEnd;
      await nodes[url]!.engine.accept(serverEnd, endpoint.kind === "control" ? { kind: "control", key } : { kind: "data", key, session: endpoint.session }, "192.0.2.10");
      return clientEnd;
    },
  });
  const control = () => connections.filter((c) => c.endpoint.kind === "control").at(-1)?.transport;
  return { client, clock, connections, errors, warnings, states, control };
}

/** Polls quickly: in-memory deliveries take event-loop turns, not time. */
export const until = <T>(check: () => T | Promise<T>, what: string) => waitFor(check, what, 5_000, 1);

/** A connection to the server with no client engine behind it: how it was closed, if it was. */
export async function rawConnection(server: InMemoryServer, request: TunnelConnectionRequest): Promise<{ closed(): [number, string] | undefined }> {
  const [clientEnd, serverEnd] = createMemoryTransportPair();
  let closed: [number, string] | undefined;
  clientEnd.bind({ data: () => {}, drain: () => {}, close: (code, reason) => void (closed = [code, reason]) });
  await server.engine.accept(serverEnd, request, "192.0.2.66");
  return { closed: () => closed };
}
