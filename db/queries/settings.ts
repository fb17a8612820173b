// Settings changed in the dashboard (table settings: section name → JSON). They override
// the configuration file and survive restarts; lib/config/server-settings.ts merges them.
import { sql } from "drizzle-orm";
import { settings } from "../schema.ts";
import type { Db } from "./_shared.ts";

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
