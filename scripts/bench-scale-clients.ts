// Simulated clients for scripts/bench-scale.ts: one process runs many tunnel clients
// (lib/tunnel/client/client.ts), each with one HTTP rule t<i>.scale.test to a shared upstream.
//   bun scripts/bench-scale-clients.ts <httpsPort> <caFile> <keys.json> <from> <to>
import { readFileSync } from "node:fs";
import { defaultClientConfig, emptyHttpRule } from "../lib/client-config/types.ts";
import { createTunnelClient } from "../lib/tunnel/client/client.ts";

const [httpsPort, caFile, keysFile, fromS, toS] = process.argv.slice(2);
const ca = readFileSync(caFile!, "utf8");
const keys = JSON.parse(readFileSync(keysFile!, "utf8")) as string[];
const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
// BENCH_CLIENT_WARN=1 also prints warnings (disconnect reasons), to see why a fleet is slow.
const warn = process.env.BENCH_CLIENT_WARN ? (m: string) => console.error(`warn: ${m}`) : () => {};
const quiet = { info() {}, warn, error(m: string) { console.error(m); } };

for (let i = Number(fromS); i < Number(toS); i++) {
  const config = defaultClientConfig();
  config.key = keys[i]!;
  config.serverHost = `127.0.0.1:${httpsPort}`;
  config.https = [{ ...emptyHttpRule(`t${i}.scale.test`), port: upstream.port! }];
  createTunnelClient({
    serverUrl: `wss://127.0.0.1:${httpsPort}`,
    key: config.key,
    tls: async () => ({ ca, checkServerIdentity: () => undefined }),
    info: { os: process.platform, arch: process.arch, version: "bench" },
    config,
    verifyPassword: async () => false,
    log: quiet,
  }).start();
  // Don't open hundreds of TLS handshakes in the same instant.
  if (i % 50 === 49) await Bun.sleep(100);
}
