// Settings rows (both engines: SPOKES_TEST_DB=postgres runs this file against PostgreSQL):
// sections saved and loaded, and the first-writer-wins claim cluster nodes use for their
// shared certificate.
import { expect, test } from "bun:test";
import { claimSetting, loadSettingText, loadSettings, saveSettings } from "../../../../db/queries/settings.ts";
import { clusterCertificateStore } from "../../../../commands/_serve/cluster-certificate.ts";
import { ensureSharedSelfSigned } from "../../../../lib/tls/certificates.ts";
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
