// The bounded attempt counters and the Admin API's page cache.
import { expect, test } from "bun:test";
import { createPageCache } from "../../../web/api/page-cache.ts";
import { memoryDb } from "../../db-fixtures.ts";
import { createRateLimiter } from "../../../web/security/rate-limit.ts";

test("rate limiter: fixed window, bounded keys", () => {
  let now = 0;
  const l = createRateLimiter({ limit: 2, windowMs: 1000, maxKeys: 3, now: () => now });
  expect(l.hit("a").ok).toBe(true);
  expect(l.check("a").ok).toBe(true);
  expect(l.hit("a").ok).toBe(true);
  expect(l.check("a").ok).toBe(false);
  expect(l.hit("a")).toEqual({ ok: false, retryAfter: 1 });
  now = 1000;
  expect(l.hit("a").ok).toBe(true);
  for (const k of ["b", "c", "d", "e"]) l.hit(k);
  expect(l.size).toBe(3);
});

test("page cache: one page needs no links; pages expire", async () => {
  let now = 0;
  const pages = createPageCache<number>({ db: await memoryDb(), basePath: "/p", ttlMs: 100, now: () => now });
  expect(await pages.paginate([1, 2])).toEqual({ total: 2, items: [1, 2], links: [] });
  const all = Array.from({ length: 101 }, (_, i) => i);
  const r = await pages.paginate(all);
  expect(r.items).toHaveLength(50);
  expect(r.links.map((l) => l.count)).toEqual([50, 50, 1]);
  expect((await pages.page(r.links[2]!.uid))!.items).toEqual([100]);
  expect((await pages.page(r.links[1]!.uid))!).toEqual({ items: all.slice(50, 100), total: 101, links: r.links });
  expect(await pages.page("f".repeat(32))).toBeUndefined();
  expect(await pages.page("../etc")).toBeUndefined();
  now = 100;
  expect(await pages.page(r.links[2]!.uid)).toBeUndefined();
});
