// Admin API page sets in the database (db/queries/api-pages.ts), on both engines: stored and
// read back by uid, expired pages gone, the count bounded.
import { expect, test } from "bun:test";
import { count } from "drizzle-orm";
import { loadPage, MAX_STORED_PAGES, savePages } from "../../../../db/queries/api-pages.ts";
import { apiPages } from "../../../../db/schema.ts";
import { memoryDb } from "../../../db-fixtures.ts";

const uid = (i: number) => i.toString(16).padStart(32, "0");

test("pages are read back by uid until they expire; an expired page is deleted when asked for", async () => {
  const db = await memoryDb();
  await savePages(db, [{ uid: uid(1), body: '{"items":[1]}' }, { uid: uid(2), body: '{"items":[2]}' }], 1_100, 1_000);
  expect(await loadPage(db, uid(2), 1_050)).toBe('{"items":[2]}');
  expect(await loadPage(db, uid(3), 1_050)).toBeUndefined();
  expect(await loadPage(db, "not-a-uid", 1_050)).toBeUndefined();
  expect(await loadPage(db, uid(1), 1_100)).toBeUndefined();
  expect((await db.select({ n: count() }).from(apiPages))[0]!.n).toBe(1);
  // The next listing sweeps what expired.
  await savePages(db, [{ uid: uid(3), body: "{}" }], 2_000, 1_200);
  expect((await db.select({ uid: apiPages.uid }).from(apiPages)).map((r) => r.uid)).toEqual([uid(3)]);
});

test("at most MAX_STORED_PAGES are kept: the soonest-expiring go first", async () => {
  const db = await memoryDb();
  const first = Array.from({ length: MAX_STORED_PAGES - 1 }, (_, i) => ({ uid: uid(i + 1), body: "{}" }));
  for (let i = 0; i < first.length; i += 500) await savePages(db, first.slice(i, i + 500), 10_000 + i, 0);
  await savePages(db, [{ uid: uid(90_001), body: "{}" }, { uid: uid(90_002), body: "{}" }], 50_000, 0);
  expect((await db.select({ n: count() }).from(apiPages))[0]!.n).toBe(MAX_STORED_PAGES);
  expect(await loadPage(db, uid(1), 0)).toBeUndefined(); // the soonest-expiring went
  expect(await loadPage(db, uid(2), 0)).toBe("{}");
  expect(await loadPage(db, uid(90_002), 0)).toBe("{}");
}, 60_000);
