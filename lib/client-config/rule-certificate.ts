// A custom certificate for an HTTP rule (`--ca FILE --key FILE`): the client terminates
// TLS with it, so catch at `add` time what would otherwise only fail at the first
// visitor's handshake: unreadable files, a key that does not pair, a wrong name, expiry.
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { UserError, errorMessage } from "../errors.ts";

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
}

export function checkRuleCertificate(chainPath: string, keyPath: string, domain: string, now = new Date()): RuleCertificateInfo {
  const chainPem = readPem(chainPath, "certificate");
  const keyPem = readPem(keyPath, "private key");
  let leaf: X509Certificate;
  try {
    // The first certificate of a full-chain file is the leaf.
    leaf = new X509Certificate(chainPem);
  } catch {
    throw new UserError(`certificate ${chainPath} is not a PEM certificate`);
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new UserError(`private key ${keyPath} is not a PEM private key (an encrypted key is not supported)`);
  }
  if (!leaf.checkPrivateKey(key)) throw new UserError(`private key ${keyPath} does not belong to certificate ${chainPath}`);
  const validTo = new Date(leaf.validTo);
  if (validTo.getTime() < now.getTime()) throw new UserError(`certificate ${chainPath} expired on ${validTo.toISOString().slice(0, 10)}`);
  // A wildcard rule needs a wildcard certificate; checkHost matches either form.
  const probe = domain.startsWith("*.") ? `wildcard-check.${domain.slice(2)}` : domain;
  if (!leaf.checkHost(probe)) throw new UserError(`certificate ${chainPath} does not cover ${domain}`);
  return { subject: leaf.subject, validTo };
}
