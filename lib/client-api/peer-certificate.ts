// Reads the certificate a server presents, without trusting it: needed to show the
// fingerprint of an unknown server and to check a pin before any request is sent.
// fetch() cannot do this itself: its checkServerIdentity only runs after the chain has
// verified, and with rejectUnauthorized:false its verdict is ignored.
import { X509Certificate } from "node:crypto";
import { connect, type DetailedPeerCertificate } from "node:tls";
import { certificateFingerprint } from "./fingerprint.ts";
import { classifyConnectError } from "./errors.ts";
import type { ServerAddress } from "./server-host.ts";

export interface PeerCertificate {
  /** Hex SHA-256 of the leaf DER. */
  fingerprint: string;
  subject: string;
  /** Leaf first, as PEM; the certificates the server sent, in order. */
  chainPem: string[];
  /** Why the default trust store rejects it, or undefined when it verifies. */
  authorizationError?: string;
}

function chainOf(leaf: DetailedPeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  for (let c: DetailedPeerCertificate | undefined = leaf; c?.raw && !out.some((d) => d.equals(c!.raw)); c = c.issuerCertificate) out.push(c.raw);
  return out;
}

export function fetchPeerCertificate(server: ServerAddress, timeoutMs = 15000): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: server.host,
      port: server.port,
      // SNI only for names (RFC 6066 §3 forbids IP literals); a server choosing its
      // certificate by SNI then shows the one it would show the real request.
      servername: server.isAddress ? undefined : server.host,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(classifyConnectError(Object.assign(new Error("timeout"), { name: "TimeoutError" }), server.hostPort, timeoutMs));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const leaf = socket.getPeerCertificate(true);
      const authorizationError = socket.authorized ? undefined : String(socket.authorizationError ?? "unverified");
      socket.end();
      if (!leaf?.raw) return reject(classifyConnectError(new Error("the server sent no certificate"), server.hostPort, timeoutMs));
      const ders = chainOf(leaf);
      resolve({
        fingerprint: certificateFingerprint(leaf.raw),
        subject: new X509Certificate(leaf.raw).subject.replace(/\n/g, ", "),
        chainPem: ders.map((d) => new X509Certificate(d).toString()),
        authorizationError,
      });
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(classifyConnectError(err, server.hostPort, timeoutMs));
    });
  });
}
