// Cluster mode: every node presents one self-signed certificate, kept in the database
// (settings row `clusterCertificate`, the key in PEM like the other secrets there), so a
// client that trusts it (--ca file or pinned fingerprint) can fail over to any node.
import { claimSetting, loadSettingText } from "../../db/queries/settings.ts";
import type { Db } from "../../db/queries/_shared.ts";
import { UserError } from "../../lib/errors.ts";
import type { CertificatePair, SharedCertificateStore } from "../../lib/tls/certificates.ts";

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
