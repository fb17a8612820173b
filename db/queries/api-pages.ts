// Admin API page sets (table api_pages): the pages of a long tunnel listing, each under its
// uid until it expires. Kept in the database so a page listed through one cluster node is
// fetched from any node; bounded in count like the in-memory cache it replaced.
import { asc, count, eq, inArray, lte } from "drizzle-orm";
import { apiPages } from "../schema.ts";
import type { Db } from "./_shared.ts";

/** Most pages kept at once; beyond it the soonest-expiring go first. */
export const MAX_STORED_PAGES = 2_000;

/** Stores one listing's pages (sweeping expired pages and the excess first). */
export async function savePages(db: Db, pages: { uid: string; body: string }[], expires: number, now: number): Promise<void> {
  await db.delete(apiPages).where(lte(apiPages.expires, new Date(now)));
  const [{ n } = { n: 0 }] = await db.select({ n: count() }).from(apiPages);
  const excess = Number(n) + pages.length - MAX_STORED_PAGES;
  if (excess > 0) {
    const oldest = await db.select({ uid: apiPages.uid }).from(apiPages).orderBy(asc(apiPages.expires)).limit(excess);
    if (oldest.length) await db.delete(apiPages).where(inArray(apiPages.uid, oldest.map((o) => o.uid)));
  }
  if (pages.length) await db.insert(apiPages).values(pages.map((p) => ({ uid: p.uid, body: p.body, expires: new Date(expires) })));
}

/** A stored page's body, or undefined when unknown or expired (an expired one is deleted). */
export async function loadPage(db: Db, uid: string, now: number): Promise<string | undefined> {
  if (!/^[0-9a-f]{32}$/.test(uid)) return undefined;
  const [row] = await db.select().from(apiPages).where(eq(apiPages.uid, uid)).limit(1);
  if (!row) return undefined;
  if (row.expires.getTime() <= now) {
    await db.delete(apiPages).where(eq(apiPages.uid, uid));
    return undefined;
  }
  return row.body;
}
