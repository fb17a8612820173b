// Page sets of the Admin API's tunnel listings (SPEC 2.3 "Pagination"): a listing of more
// than 50 tunnels is cut into pages, each stored under its own uid for a while so the
// client can fetch them with `tunnel/page/{uid}`. The pages live in the database
// (db/queries/api-pages.ts), so any node of a cluster serves a page another node listed.
import { randomBytes } from "node:crypto";
import type { Database } from "../../db/client.ts";
import { loadPage, savePages } from "../../db/queries/api-pages.ts";

export const PAGE_SIZE = 50;
export const DEFAULT_PAGE_TTL_MS = 720_000;

export interface PageLink {
  uid: string;
  order: number;
  count: number;
  url: string;
}

export interface PagedResult<T> {
  total: number;
  /** The first page. */
  items: T[];
  /** One per page (first included); empty when everything fits in one page. */
  links: PageLink[];
}

export interface PageCache<T> {
  paginate(all: T[]): Promise<PagedResult<T>>;
  /** The page with this uid, or undefined when unknown or expired. */
  page(uid: string): Promise<{ items: T[]; total: number; links: PageLink[] } | undefined>;
}

export function createPageCache<T>(opts: { db: Database; basePath: string; ttlMs: number; now: () => number }): PageCache<T> {
  return {
    async paginate(all) {
      if (all.length <= PAGE_SIZE) return { total: all.length, items: all, links: [] };
      const chunks: T[][] = [];
      for (let i = 0; i < all.length; i += PAGE_SIZE) chunks.push(all.slice(i, i + PAGE_SIZE));
      const links: PageLink[] = chunks.map((items, i) => {
        const uid = randomBytes(16).toString("hex");
        return { uid, order: i + 1, count: items.length, url: `${opts.basePath}/${uid}` };
      });
      const now = opts.now();
      const pages = chunks.map((items, i) => ({ uid: links[i]!.uid, body: JSON.stringify({ items, total: all.length, links }) }));
      await savePages(opts.db, pages, now + opts.ttlMs, now);
      return { total: all.length, items: chunks[0]!, links };
    },
    async page(uid) {
      const body = await loadPage(opts.db, uid, opts.now());
      return body === undefined ? undefined : (JSON.parse(body) as { items: T[]; total: number; links: PageLink[] });
    },
  };
}
