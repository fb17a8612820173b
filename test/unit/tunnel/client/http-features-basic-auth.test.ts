// The client's feature server where the client terminates TLS itself (a rule with its own
// certificate): the server's HTTP router never saw those requests, so basic auth is
// checked here, before the login page and the upstream.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyHttpRule } from "../../../../lib/client-config/types.ts";
import { hashBasicAuth, verifyPassword } from "../../../../lib/http/basic-auth.ts";
import { generateSelfSigned } from "../../../../lib/tls/certificates.ts";
import { createFeatureServer } from "../../../../lib/tunnel/client/http-features.ts";

// Basic auth costs an argon2id verification per new credential: slow on a busy machine.
setDefaultTimeout(30_000);

const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`upstream ${new URL(req.url).pathname} auth=${req.headers.has("authorization")}`) });
const dir = mkdtempSync(join(tmpdir(), "features-"));
const pair = await generateSelfSigned("app.example.com");
writeFileSync(join(dir, "c.pem"), pair.certPem);
writeFileSync(join(dir, "k.pem"), pair.keyPem);
const rule = { ...emptyHttpRule("app.example.com"), port: upstream.port!, ca: join(dir, "c.pem"), privateKey: join(dir, "k.pem"), basicHttpAuth: await hashBasicAuth("alice", "wonderland") };
const features = createFeatureServer([rule], { verifyPassword });
afterAll(() => {
  features.stop();
  upstream.stop(true);
});

const get = (port: number, https: boolean, auth?: string) =>
  fetch(`${https ? "https" : "http"}://127.0.0.1:${port}/p`, {
    headers: { host: "app.example.com", ...(auth ? { authorization: `Basic ${btoa(auth)}` } : {}) },
    tls: { rejectUnauthorized: false },
  } as RequestInit);

test("TLS terminated by the client: basic auth is required before the upstream", async () => {
  const tlsPort = features.tlsPortFor(rule)!;
  expect(tlsPort).toBeGreaterThan(0);
  const none = await get(tlsPort, true);
  expect(none.status).toBe(401);
  expect(none.headers.get("www-authenticate")).toBe('Basic realm="app.example.com", charset="UTF-8"');
  expect((await get(tlsPort, true, "alice:wrong")).status).toBe(401);
  expect((await get(tlsPort, true, "bob:wonderland")).status).toBe(401);
  const ok = await get(tlsPort, true, "alice:wonderland");
  expect([ok.status, await ok.text()]).toEqual([200, "upstream /p auth=true"]);
});

test("plain HTTP reaches the feature server only through the server's router, which checked basic auth already", async () => {
  const res = await get(features.port, false);
  expect([res.status, await res.text()]).toEqual([200, "upstream /p auth=false"]);
});
