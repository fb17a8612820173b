// How the client decides to trust the server's certificate, and the fetch() TLS options
// for each choice, as found by experiment on Bun 1.4.5 against a local Bun.serve:
//
// - public:   Bun's default store; the name is checked against the host we dial.
// - ca:       only the given CA/self-signed PEM is trusted for this server. When the
//             server is dialled by IP address the name check is skipped (the certificate
//             names the server's domain, not the address), the chain check stays.
// - pin:      fetch() can not report the peer certificate of a chain it rejects
//             (checkServerIdentity runs only after the chain verified, and its verdict is
//             ignored under rejectUnauthorized:false). So the certificate is first read
//             over a separate node:tls connection and compared with the pin; the request
//             then trusts exactly what that server presented (plus the public roots, for
//             a pinned publicly-trusted certificate) and checkServerIdentity compares the
//             pin again on the request's own connection. Both connections are checked, so
//             a man in the middle cannot slip in between them. The name is not checked:
//             the pin is stronger than any name.
// - insecure: no verification at all (the CLI warns at configure and at every start).
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { rootCertificates } from "node:tls";
import { UserError, errorMessage } from "../errors.ts";
import { PinMismatchError } from "./errors.ts";
import { certificateFingerprint, normalizeFingerprint } from "./fingerprint.ts";
import { fetchPeerCertificate } from "./peer-certificate.ts";
import type { ServerAddress } from "./server-host.ts";

export type ServerTrust =
  | { kind: "public" }
  | { kind: "ca"; caPem: string; caPath: string }
  | { kind: "pin"; fingerprint: string }
  | { kind: "insecure" };

export type FetchTls = NonNullable<BunFetchRequestInit["tls"]>;

export const INSECURE_WARNING = "WARNING: --insecure disables server certificate verification; anyone on the path can impersonate the server";

/** Reads a PEM file holding at least one certificate (a CA or the server's self-signed one). */
export function readServerCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read CA file ${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : errorMessage(err)}`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new UserError(`CA file ${path} does not hold a PEM certificate`);
  }
  return pem;
}

export function pinTrust(fingerprint: string): ServerTrust {
  const hex = normalizeFingerprint(fingerprint);
  if (!hex) throw new UserError(`fingerprint ${JSON.stringify(fingerprint)} is not a SHA-256 fingerprint (sha256:<64 hex digits>)`);
  return { kind: "pin", fingerprint: hex };
}

/** The trust a configured client uses: insecure, else the pin, else the CA file, else public. */
export function trustFromConfig(config: { insecure: boolean; serverKey: string; ca: string }): ServerTrust {
  if (config.insecure) return { kind: "insecure" };
  if (config.serverKey) return pinTrust(config.serverKey);
  if (config.ca) return { kind: "ca", caPem: readServerCa(config.ca), caPath: config.ca };
  return { kind: "public" };
}

function pinCheck(server: ServerAddress, pin: string) {
  return (_host: string, cert: { raw?: Buffer; fingerprint256?: string }) => {
    const actual = cert.raw ? certificateFingerprint(cert.raw) : (normalizeFingerprint(cert.fingerprint256 ?? "") ?? "");
    return actual === pin ? undefined : new PinMismatchError(server.hostPort, pin, actual);
  };
}

export async function fetchTlsOptions(server: ServerAddress, trust: ServerTrust, timeoutMs: number): Promise<FetchTls | undefined> {
  switch (trust.kind) {
    case "public":
      return undefined;
    case "insecure":
      return { rejectUnauthorized: false };
    case "ca":
      return server.isAddress ? { ca: trust.caPem, checkServerIdentity: () => undefined } : { ca: trust.caPem };
    case "pin": {
      const peer = await fetchPeerCertificate(server, timeoutMs);
      if (peer.fingerprint !== trust.fingerprint) throw new PinMismatchError(server.hostPort, trust.fingerprint, peer.fingerprint);
      return { ca: [...rootCertificates, ...peer.chainPem], checkServerIdentity: pinCheck(server, trust.fingerprint) };
    }
  }
}
