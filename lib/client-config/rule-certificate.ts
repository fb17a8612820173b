// A custom certificate for an HTTP rule (`--ca FILE --key FILE`, or an upload from the
// dashboard / Admin API): the client terminates TLS with it, so catch at `add` time what
// would otherwise only fail at the first visitor's handshake: unreadable files, a key
// that does not pair, a wrong name, expiry. The checks are the server's own
// (lib/tls/certificates.ts checkCertificatePair), so both sides say the same thing.
import { readFileSync } from "node:fs";
import { UserError, errorMessage } from "../errors.ts";
import { checkCertificatePair } from "../tls/certificates.ts";

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read ${what} ${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : errorMessage(err)}`);
  }
}

export interface RuleCertificateInfo {
  subject: string;
  validTo: Date;
  /** Lowercased DNS names the leaf covers. */
  names: string[];
  /** The certificates only (leaf first) and the key block only, as they should be stored. */
  certPem: string;
  keyPem: string;
}

/**
 * Checks a certificate chain + key given as PEM text for a rule's domain. A wildcard rule
 * (`*.example.com`) needs a certificate that covers every name under it: a wildcard one.
 */
export function checkRuleCertificatePem(
  certPem: string,
  keyPem: string,
  domain: string,
  opts: { now?: Date; certLabel?: string; keyLabel?: string } = {},
): RuleCertificateInfo {
  const probe = domain.startsWith("*.") ? `wildcard-check.${domain.slice(2)}` : domain;
  try {
    const c = checkCertificatePair(certPem, keyPem, probe, { now: opts.now, certLabel: opts.certLabel ?? "certificate", keyLabel: opts.keyLabel ?? "private key" });
    return { subject: c.names[0] ?? "", validTo: c.notAfter, names: c.names, certPem: c.certPem, keyPem: c.keyPem };
  } catch (err) {
    if (err instanceof UserError && probe !== domain) throw new UserError(err.message.replaceAll(probe, domain));
    throw err;
  }
}

/** Reads and checks the certificate files of a rule (`--ca FILE --key FILE`). */
export function checkRuleCertificate(chainPath: string, keyPath: string, domain: string, now = new Date()): RuleCertificateInfo {
  const chainPem = readPem(chainPath, "certificate");
  const keyPem = readPem(keyPath, "private key");
  return checkRuleCertificatePem(chainPem, keyPem, domain, { now, certLabel: `certificate ${chainPath}`, keyLabel: `private key ${keyPath}` });
}
