// The fixed-window counter under both attempt limiters, on a stepped clock.
import { expect, test } from "bun:test";
import { createWindowedCounter } from "../../../lib/rate/windowed-counter.ts";

test("a window opens at the first count and ends windowMs later; then the key starts from zero", () => {
  let t = 5_000;
  const c = createWindowedCounter({ windowMs: 1_000, now: () => t });
  expect(c.get("a")).toBeUndefined();
  expect(c.add("a")).toEqual({ count: 1, resetAt: 6_000 });
  t = 5_999;
  expect(c.add("a")).toEqual({ count: 2, resetAt: 6_000 }); // a later count does not extend the window
  expect(c.get("a")?.count).toBe(2);
  t = 6_000;
  expect(c.get("a")).toBeUndefined();
  expect(c.size).toBe(0); // the ended window was dropped when looked at
  expect(c.add("a")).toEqual({ count: 1, resetAt: 7_000 });
});

test("keys count independently; delete forgets one key", () => {
  const c = createWindowedCounter({ windowMs: 60_000 });
  c.add("a");
  c.add("a");
  c.add("b");
  expect(c.get("a")?.count).toBe(2);
  expect(c.get("b")?.count).toBe(1);
  c.delete("a");
  expect(c.get("a")).toBeUndefined();
  expect(c.get("b")?.count).toBe(1);
  expect(c.size).toBe(1);
});

test("the tracked keys are capped: the least recently counted key is forgotten first", () => {
  const c = createWindowedCounter({ windowMs: 60_000, maxKeys: 3 });
  for (const k of ["a", "b", "c"]) c.add(k);
  c.add("a"); // a is now the most recently counted
  c.add("d"); // pushes out b, the least recently counted
  expect(c.size).toBe(3);
  expect(c.get("b")).toBeUndefined();
  expect(c.get("a")?.count).toBe(2);
  expect(c.get("c")?.count).toBe(1);
  expect(c.get("d")?.count).toBe(1);
});

test("a spray of 100,000 keys keeps memory at the cap and the newest keys", () => {
  const c = createWindowedCounter({ windowMs: 60_000, maxKeys: 1_000 });
  for (let i = 0; i < 100_000; i++) c.add(`k${i}`);
  expect(c.size).toBe(1_000);
  expect(c.get("k99999")?.count).toBe(1);
  expect(c.get("k98999")).toBeUndefined();
  expect(c.get("k0")).toBeUndefined();
});

test("nonsense options are refused", () => {
  expect(() => createWindowedCounter({ windowMs: 0 })).toThrow(RangeError);
  expect(() => createWindowedCounter({ windowMs: 1, maxKeys: 0 })).toThrow(RangeError);
});
