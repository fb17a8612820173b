// Page sets of the Admin API's tunnel listings (SPEC 2.3 "Pagination"): a listing of more
// than 50 tunnels is cut into pages, each stored under its own uid for a while so the
// client can fetch them with `tunnel/page/{uid}`. Bounded in count and lifetime.
import { randomBytes } from "node:crypto";

export const PAGE_SIZE = 50;
export const DEFAULT_PAGE_TTL_MS = 720_000;
const MAX_PAGES = 2_000;

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
  paginate(all: T[]): PagedResult<T>;
  /** The page with this uid, or undefined when unknown or expired. */
  page(uid: string): { items: T[]; total: number; links: PageLink[] } | undefined;
  readonly size: number;
}

export function createPageCache<T>(opts: { basePath: string; ttlMs: number; now: () => number }): PageCache<T> {
  const pages = new Map<string, { items: T[]; total: number; links: PageLink[]; expires: number }>();

  const sweep = () => {
    const t = opts.now();
    for (const [uid, p] of pages) if (p.expires <= t) pages.delete(uid);
    // Over the bound: the oldest sets go first (Map keeps insertion order).
    for (const uid of pages.keys()) {
      if (pages.size <= MAX_PAGES) break;
      pages.delete(uid);
    }
  };

  return {
    paginate(all) {
      if (all.length <= PAGE_SIZE) return { total: all.length, items: all, links: [] };
      sweep();
      const expires = opts.now() + opts.ttlMs;
      const links: PageLink[] = [];
      const chunks: T[][] = [];
      for (let i = 0; i < all.length; i += PAGE_SIZE) chunks.push(all.slice(i, i + PAGE_SIZE));
      chunks.forEach((items, i) => {
        const uid = randomBytes(16).toString("hex");
        links.push({ uid, order: i + 1, count: items.length, url: `${opts.basePath}/${uid}` });
      });
      chunks.forEach((items, i) => pages.set(links[i]!.uid, { items, total: all.length, links, expires }));
      return { total: all.length, items: chunks[0]!, links };
    },
    page(uid) {
      const p = pages.get(uid);
      if (!p) return undefined;
      if (p.expires <= opts.now()) {
        pages.delete(uid);
        return undefined;
      }
      return { items: p.items, total: p.total, links: p.links };
    },
    get size() {
      return pages.size;
    },
  };
}
