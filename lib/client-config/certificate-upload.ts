// Custom certificates sent with a remote `http/update` (dashboard upload or Admin API).
// In the client file `ca` / `privateKey` are paths on the client; in a remote change they
// may instead carry the PEM content itself, raw or base64-encoded (the original Spokes Go
// library sends base64 of the PEM). The server checks the pair and sends raw PEM; the
// client checks it again, stores it in its data directory (mode 0600) and puts the paths
// into its configuration, so the file never holds key material and the server never
// learns paths it did not choose.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { UserError, errorMessage } from "../errors.ts";
import { writeAtomic } from "../tls/certificates.ts";
import type { RemoteChange } from "./remote-change.ts";
import { checkRuleCertificate, checkRuleCertificatePem } from "./rule-certificate.ts";
import type { ClientConfig, HttpRule } from "./types.ts";

/** A chain of a few certificates or a key is a few KiB; anything this large is a mistake. */
export const MAX_PEM_BYTES = 64 * 1024;

const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

/** The PEM text a `ca` / `privateKey` value carries, or undefined when it is a file path. */
export function pemContent(value: string): string | undefined {
  const v = value.trim();
  if (v.startsWith("-----BEGIN ")) return v;
  if (v.length < 64 || !BASE64.test(v)) return undefined;
  const decoded = Buffer.from(v, "base64").toString("utf8").trim();
  return decoded.startsWith("-----BEGIN ") ? decoded : undefined;
}

function uploadedPair(site: HttpRule, label: string): { certPem: string; keyPem: string } | undefined {
  const certPem = pemContent(site.ca);
  const keyPem = pemContent(site.privateKey);
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    const [has, lacks] = certPem === undefined ? ["privateKey", "ca"] : ["ca", "privateKey"];
    throw new UserError(`${label}.${has} holds PEM content but ${label}.${lacks} does not: send both as PEM (or both as file paths on the client)`);
  }
  for (const [k, pem] of [["ca", certPem], ["privateKey", keyPem]] as const) {
    if (pem.length > MAX_PEM_BYTES) throw new UserError(`${label}.${k} is larger than ${MAX_PEM_BYTES / 1024} KiB`);
  }
  return { certPem, keyPem };
}

/**
 * Server side: checks every uploaded pair (parses, the key pairs with the leaf, the leaf
 * covers the domain, not expired) and returns the change with raw, normalised PEM in
 * `ca` / `privateKey`. Sites that name files on the client pass unchanged.
 */
export function checkCertificateUploads(change: RemoteChange, now = new Date()): RemoteChange {
  if (change.kind !== "http/update") return change;
  const sites = change.sites.map((site, i) => {
    const label = `sites[${i}]`;
    const pair = uploadedPair(site, label);
    if (!pair) return site;
    const checked = checkRuleCertificatePem(pair.certPem, pair.keyPem, site.domain, { now, certLabel: `${label}.ca (certificate)`, keyLabel: `${label}.privateKey (private key)` });
    return { ...site, ca: checked.certPem, privateKey: checked.keyPem };
  });
  return { ...change, sites };
}

/** Where the client keeps uploaded certificates: `<data dir>/certs/`. */
export function uploadedCertificatesDir(dataDir: string): string {
  return join(dataDir, "certs");
}

// <domain>-<12 hex>.crt|key: the content hash makes a new upload a new path, so the running
// client's TLS listener (keyed by path) picks it up, and marks the files this module owns.
const UPLOADED_NAME = /^[a-z0-9_.-]+-[0-9a-f]{12}\.(crt|key)$/;

function uploadedPaths(dataDir: string, domain: string, certPem: string, keyPem: string): { ca: string; privateKey: string } {
  const hash = createHash("sha256").update(certPem).update("\0").update(keyPem).digest("hex").slice(0, 12);
  const base = join(uploadedCertificatesDir(dataDir), `${domain.replace(/^\*\./, "_wildcard.")}-${hash}`);
  return { ca: `${base}.crt`, privateKey: `${base}.key` };
}

/**
 * Client side: checks each uploaded pair again (never trust the wire), writes it under
 * `<dataDir>/certs/` readable by the owner only, and returns the change with those paths.
 * A site that names files (a path different from the current rule's) has them checked
 * here too, so a wrong path is refused now rather than at the first visitor.
 */
export function storeCertificateUploads(change: RemoteChange, dataDir: string, current: ClientConfig, now = new Date()): RemoteChange {
  if (change.kind !== "http/update") return change;
  const sites = change.sites.map((site, i) => {
    const label = `sites[${i}]`;
    const pair = uploadedPair(site, label);
    if (!pair) {
      const before = current.https.find((r) => r.domain === site.domain);
      const changed = site.ca && (site.ca !== before?.ca || site.privateKey !== before?.privateKey);
      if (changed) checkRuleCertificate(site.ca, site.privateKey, site.domain, now);
      return site;
    }
    const checked = checkRuleCertificatePem(pair.certPem, pair.keyPem, site.domain, { now, certLabel: `${label}.ca (certificate)`, keyLabel: `${label}.privateKey (private key)` });
    const paths = uploadedPaths(dataDir, site.domain, checked.certPem, checked.keyPem);
    try {
      mkdirSync(uploadedCertificatesDir(dataDir), { recursive: true, mode: 0o700 });
      writeAtomic(paths.privateKey, checked.keyPem, 0o600);
      writeAtomic(paths.ca, checked.certPem, 0o600);
    } catch (err) {
      throw new UserError(`cannot store the certificate for ${site.domain} in ${uploadedCertificatesDir(dataDir)}: ${errorMessage(err)}`);
    }
    return { ...site, ...paths };
  });
  return { ...change, sites };
}

/** Removes uploaded files no rule refers to any more (replaced uploads, removed rules). */
export function pruneCertificateUploads(dataDir: string, config: ClientConfig): string[] {
  const dir = uploadedCertificatesDir(dataDir);
  const used = new Set(config.https.flatMap((r) => [r.ca, r.privateKey]));
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!UPLOADED_NAME.test(name) || used.has(path)) continue;
    try {
      unlinkSync(path);
      removed.push(path);
    } catch {}
  }
  return removed;
}
