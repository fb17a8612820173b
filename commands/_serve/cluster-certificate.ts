// Cluster mode: every node presents one certificate, so a client that trusts it (--ca file
// or pinned fingerprint) can fail over to any node. The self-signed one is kept in the
// database (settings row `clusterCertificate`, the key in PEM like the other secrets
// there); a certificate uploaded in one node's dashboard is restored from the database on
// the nodes that lack its files.
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { UPLOADED_CERTIFICATE_SETTING, claimSetting, loadSettingText } from "../../db/queries/settings.ts";
import type { Db } from "../../db/queries/_shared.ts";
import { UserError } from "../../lib/errors.ts";
import { writeAtomic, type CertificatePair, type SharedCertificateStore } from "../../lib/tls/certificates.ts";

export const CLUSTER_CERTIFICATE_SETTING = "clusterCertificate";

function parsePair(text: string | undefined): CertificatePair | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<CertificatePair>;
    return typeof v.certPem === "string" && typeof v.keyPem === "string" ? { certPem: v.certPem, keyPem: v.keyPem } : undefined;
  } catch {
    return undefined;
  }
}

export function clusterCertificateStore(db: Db): SharedCertificateStore {
  // The row's text as loaded: a replacement only wins while the row still holds it.
  let loadedText: string | undefined;
  return {
    async load() {
      loadedText = await loadSettingText(db, CLUSTER_CERTIFICATE_SETTING);
      return parsePair(loadedText);
    },
    async claim(pair) {
      // Against the row as loaded (also one that is not a pair at all, e.g. hand-edited).
      const stored = await claimSetting(db, CLUSTER_CERTIFICATE_SETTING, JSON.stringify({ certPem: pair.certPem, keyPem: pair.keyPem }), loadedText);
      loadedText = stored;
      const kept = parsePair(stored);
      if (!kept) throw new UserError(`the database setting ${CLUSTER_CERTIFICATE_SETTING} does not hold a certificate and key; delete that row and restart`);
      return kept;
    },
  };
}

/**
 * A dashboard upload's files (`tls.certificate` / `tls.privateKey`) missing on this node:
 * written from the database row the upload left, when that row names the same paths.
 * Returns whether it wrote them.
 */
export async function restoreUploadedCertificate(db: Db, tls: { certificate: string; privateKey: string }): Promise<boolean> {
  if (!tls.certificate || (existsSync(tls.certificate) && existsSync(tls.privateKey))) return false;
  let row: { certificate?: unknown; privateKey?: unknown; certPem?: unknown; keyPem?: unknown } | undefined;
  try {
    row = JSON.parse((await loadSettingText(db, UPLOADED_CERTIFICATE_SETTING)) ?? "null") ?? undefined;
  } catch {
    return false;
  }
  if (!row || row.certificate !== tls.certificate || row.privateKey !== tls.privateKey || typeof row.certPem !== "string" || typeof row.keyPem !== "string") return false;
  mkdirSync(dirname(tls.certificate), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(tls.privateKey), { recursive: true, mode: 0o700 });
  writeAtomic(tls.privateKey, row.keyPem, 0o600);
  writeAtomic(tls.certificate, row.certPem, 0o644);
  return true;
}
