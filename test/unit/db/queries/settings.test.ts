// Settings rows (both engines: SPOKES_TEST_DB=postgres runs this file against PostgreSQL):
// sections saved and loaded, and the first-writer-wins claim cluster nodes use for their
// shared certificate.
import { expect, test } from "bun:test";
import { claimSetting, loadSettingText, loadSettings, saveSettings } from "../../../../db/queries/settings.ts";
import { clusterCertificateStore, restoreUploadedCertificate } from "../../../../commands/_serve/cluster-certificate.ts";
import { UPLOADED_CERTIFICATE_SETTING } from "../../../../db/queries/settings.ts";
import { ensureSharedSelfSigned, generateSelfSigned } from "../../../../lib/tls/certificates.ts";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { memoryDb } from "../../../db-fixtures.ts";
import { tempDir } from "../../../helpers.ts";

test("sections round-trip as JSON; an upsert replaces a section", async () => {
  const db = await memoryDb();
  await saveSettings(db, { domain: "a.test", socks: { enabled: true } });
  await saveSettings(db, { domain: "b.test" });
  expect(await loadSettings(db)).toEqual({ domain: "b.test", socks: { enabled: true } });
});

test("claimSetting: inserted when absent; a second claim gets the first value; a replacement wins only over the value it read", async () => {
  const db = await memoryDb();
  expect(await loadSettingText(db, "k")).toBeUndefined();
  expect(await claimSetting(db, "k", "first")).toBe("first");
  expect(await claimSetting(db, "k", "second")).toBe("first");
  expect(await claimSetting(db, "k", "third", "stale")).toBe("first");
  expect(await claimSetting(db, "k", "fourth", "first")).toBe("fourth");
  expect(await loadSettingText(db, "k")).toBe("fourth");
});

test("three nodes starting at once on one database present one certificate", async () => {
  const db = await memoryDb();
  const nodes = await Promise.all([0, 1, 2].map(() => ensureSharedSelfSigned({ domain: "spokes.test", dataPath: tempDir() }, clusterCertificateStore(db))));
  expect(new Set(nodes.map((n) => n.fingerprint)).size).toBe(1);
  expect(nodes.filter((n) => n.claimed)).toHaveLength(1);
  // The key is kept in the database with the certificate, and settings sections ignore the row.
  expect(JSON.parse((await loadSettingText(db, "clusterCertificate"))!)).toEqual({ certPem: nodes[0]!.certPem, keyPem: expect.stringContaining("PRIVATE KEY") });
  const again = await ensureSharedSelfSigned({ domain: "spokes.test", dataPath: tempDir() }, clusterCertificateStore(db));
  expect(again).toMatchObject({ claimed: false, fingerprint: nodes[0]!.fingerprint });
});

test("a dashboard upload's files missing on this node are restored from the database, only for the paths the row names", async () => {
  const db = await memoryDb();
  const pair = await generateSelfSigned("spokes.test");
  const dir = join(tempDir(), "tls");
  const tls = { certificate: join(dir, "dashboard-certificate.pem"), privateKey: join(dir, "dashboard-private-key.pem") };
  expect(await restoreUploadedCertificate(db, tls)).toBe(false); // no row
  await saveSettings(db, { [UPLOADED_CERTIFICATE_SETTING]: { ...tls, certPem: pair.certPem, keyPem: pair.keyPem } });
  expect(await restoreUploadedCertificate(db, { certificate: "/elsewhere/c.pem", privateKey: "/elsewhere/k.pem" })).toBe(false);
  expect(existsSync("/elsewhere/c.pem")).toBe(false);
  expect(await restoreUploadedCertificate(db, tls)).toBe(true);
  expect(readFileSync(tls.certificate, "utf8")).toBe(pair.certPem);
  expect(readFileSync(tls.privateKey, "utf8")).toBe(pair.keyPem);
  expect(statSync(tls.privateKey).mode & 0o777).toBe(0o600);
  // Files present: left alone.
  expect(await restoreUploadedCertificate(db, tls)).toBe(false);
});
