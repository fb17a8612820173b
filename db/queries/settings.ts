// Settings changed in the dashboard (table settings: section name → JSON). They override
// the configuration file and survive restarts; lib/config/server-settings.ts merges them.
import { and, eq, sql } from "drizzle-orm";
import { settings } from "../schema.ts";
import type { Db } from "./_shared.ts";

/**
 * The certificate and key last uploaded in the dashboard, with the paths the `tls` section
 * names for them: those files are written on the node that served the upload, and another
 * node of a cluster that finds them missing restores them from this row.
 */
export const UPLOADED_CERTIFICATE_SETTING = "uploadedCertificate";

/** Every stored section, parsed; a row that is not valid JSON is skipped. */
export async function loadSettings(db: Db): Promise<Record<string, unknown>> {
  const rows = await db.select().from(settings);
  const out: Record<string, unknown> = {};
  for (const r of rows) {
    try {
      out[r.key] = JSON.parse(r.value);
    } catch {
      // a hand-edited row that does not parse is ignored rather than blocking the start
    }
  }
  return out;
}

/** Upserts the given sections in one transaction. */
export async function saveSettings(db: Db, sections: Record<string, unknown>): Promise<void> {
  const entries = Object.entries(sections).filter(([, v]) => v !== undefined);
  if (!entries.length) return;
  const now = new Date();
  await db.transaction(async (tx) => {
    for (const [key, value] of entries) {
      await tx
        .insert(settings)
        .values({ key, value: JSON.stringify(value), modified: now })
        .onConflictDoUpdate({ target: settings.key, set: { value: sql`excluded.value`, modified: now } });
    }
  });
}

/** The stored text of one row, or undefined. */
export async function loadSettingText(db: Db, key: string): Promise<string | undefined> {
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key));
  return row?.value;
}

/**
 * Stores `value` under `key` when there is no row yet, or in place of `replacing` while
 * the row still holds exactly that: when several nodes race, the first writer wins and
 * the others get its value. Returns the text stored afterwards.
 */
export async function claimSetting(db: Db, key: string, value: string, replacing?: string): Promise<string> {
  const now = new Date();
  if (replacing === undefined) await db.insert(settings).values({ key, value, modified: now }).onConflictDoNothing({ target: settings.key });
  else await db.update(settings).set({ value, modified: now }).where(and(eq(settings.key, key), eq(settings.value, replacing)));
  const stored = await loadSettingText(db, key);
  if (stored === undefined) throw new Error(`setting ${key} vanished while it was claimed`);
  return stored;
}
