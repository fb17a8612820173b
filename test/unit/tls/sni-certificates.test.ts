import { describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { connect, createServer, type Server } from "node:tls";
import { generateSelfSigned, sha256Fingerprint } from "../../../lib/tls/certificates.ts";
import { createCertificateSource, createSniCertificates } from "../../../lib/tls/sni-certificates.ts";

const spokes = await generateSelfSigned("spokes.test");
const spokes2 = await generateSelfSigned("spokes.test");
const app = await generateSelfSigned("app.example.test");
const wild = await generateSelfSigned("wild.test");

/** The fingerprint of the certificate a TLS server presents for `servername`. */
function presented(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(sha256Fingerprint(new X509Certificate(raw).raw));
    });
    s.on("error", reject);
  });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as { port: number }).port;
}

describe("SniCertificates", () => {
  test("select: exact name, then one-label wildcard, then the default", () => {
    const certs = createSniCertificates(createCertificateSource(spokes));
    certs.set("App.Example.Test", app);
    certs.set("*.wild.test", wild);
    expect(certs.select(null).fingerprint).toBe(sha256Fingerprint(spokes.certPem));
    expect(certs.select("app.example.test").fingerprint).toBe(sha256Fingerprint(app.certPem));
    expect(certs.select("x.wild.test").fingerprint).toBe(sha256Fingerprint(wild.certPem));
    expect(certs.select("x.y.wild.test").fingerprint).toBe(sha256Fingerprint(spokes.certPem));
    expect(certs.select("other.test").fingerprint).toBe(sha256Fingerprint(spokes.certPem));
    expect(certs.covers("dash.spokes.test")).toBe(true);
    expect(certs.covers("app.example.test")).toBe(true);
    expect(certs.covers("other.test")).toBe(false);
    expect(certs.delete("app.example.test")).toBe(true);
    expect(certs.covers("app.example.test")).toBe(false);
  });

  test("node:tls server with SNICallback serves per-name certificates and picks up a swapped default", async () => {
    const source = createCertificateSource(spokes);
    const certs = createSniCertificates(source);
    certs.set("app.example.test", app);
    let changes = 0;
    certs.onChange(() => changes++);
    const server = createServer(certs.tlsServerOptions(), (s) => s.end("hi"));
    certs.attach(server);
    const port = await listen(server);
    try {
      expect(await presented(port, "spokes.test")).toBe(sha256Fingerprint(spokes.certPem));
      expect(await presented(port, "app.example.test")).toBe(sha256Fingerprint(app.certPem));
      expect(await presented(port, "unknown.test")).toBe(sha256Fingerprint(spokes.certPem));
      expect(await presented(port)).toBe(sha256Fingerprint(spokes.certPem));

      source.set(spokes2); // e.g. a renewal or a dashboard upload
      expect(changes).toBe(1);
      expect(await presented(port, "spokes.test")).toBe(sha256Fingerprint(spokes2.certPem));
      expect(await presented(port)).toBe(sha256Fingerprint(spokes2.certPem));
      expect(await presented(port, "app.example.test")).toBe(sha256Fingerprint(app.certPem));
    } finally {
      certs.close();
      server.close();
    }
  });
});
