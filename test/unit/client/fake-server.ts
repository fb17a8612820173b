// A stand-in for the spokes client API (`/api/client/v1/`) over HTTPS with a throwaway
// certificate, for the client's unit and end-to-end tests. Records every request.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, X509Certificate } from "node:crypto";

export interface TestCert {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  /** Hex SHA-256 of the DER. */
  fingerprint: string;
}

/** A self-signed P-256 certificate for `cn` (also its only SAN), valid one day. */
export function makeSelfSignedCert(dir: string, cn = "spokes.test", name = "server"): TestCert {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const r = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${cn}`, "-addext", `subjectAltName=DNS:${cn}`, "-days", "1", "-keyout", keyPath, "-out", certPath],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  const cert = readFileSync(certPath, "utf8");
  const key = readFileSync(keyPath, "utf8");
  const fingerprint = createHash("sha256").update(new X509Certificate(cert).raw).digest("hex");
  return { certPath, keyPath, cert, key, fingerprint };
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface FakeServer {
  port: number;
  hostPort: string;
  requests: RecordedRequest[];
  /** Keys the server accepts (register adds one, deauth removes it). */
  keys: Set<string>;
  tunnelID: string;
  stop(): void;
}

export const GOOD_REGISTRATION = "reg-token-good";
export const TUNNEL_ID = "0123456789abcdef0123456789abcdef";

export function startFakeServer(cert: TestCert, opts: { firstPort?: number } = {}): FakeServer {
  const requests: RecordedRequest[] = [];
  const keys = new Set<string>(["key-existing"]);
  let nextPort = opts.firstPort ?? 22001;
  let n = 0;
  const refuse = (error: string, status = 401) => Response.json({ status: false, error }, { status });

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: cert.cert, key: cert.key },
    async fetch(req) {
      const url = new URL(req.url);
      const text = await req.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = url.pathname.replace(/^\/api\/client\/v1\//, "");
      requests.push({ method: req.method, path, headers: req.headers.toJSON(), body });
      const b = (body ?? {}) as Record<string, unknown>;
      const bearer = req.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
      if (req.method === "POST" && path === "register") {
        if (b.token !== GOOD_REGISTRATION) return refuse("invalid registration token");
        const key = `key-${++n}`;
        keys.add(key);
        return Response.json({ status: true, key, tunnelID: TUNNEL_ID, hostname: typeof b.hostname === "string" ? b.hostname : "" });
      }
      if (!keys.has(bearer)) return refuse("invalid or inactive key");
      if (req.method === "POST" && path === "auth") return Response.json({ status: true, tunnelID: TUNNEL_ID, hostname: "tunnel.spokes.test" });
      if (req.method === "POST" && path === "deauth") {
        keys.delete(bearer);
        return Response.json({ status: true });
      }
      if (req.method === "POST" && path === "ports/allocate") return Response.json({ status: true, port: nextPort++ });
      if (req.method === "POST" && path === "ports/release") return Response.json({ status: true });
      if (req.method === "GET" && path === "status") return Response.json({ status: true, tunnelID: TUNNEL_ID, online: false, hostname: "tunnel.spokes.test", https: [], ports: [] });
      return refuse("not found", 404);
    },
  });
  return {
    port: server.port!,
    hostPort: `127.0.0.1:${server.port}`,
    requests,
    keys,
    tunnelID: TUNNEL_ID,
    stop: () => server.stop(true),
  };
}
