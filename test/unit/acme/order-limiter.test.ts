// The on-demand order limiter with a fake clock: the hourly budget resets with its window, a failed name
// backs off (doubling, capped), a success clears it, and names do not share a backoff.
import { expect, test } from "bun:test";
import { createOrderLimiter } from "../../../lib/acme/order-limiter.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test("at most perHour orders per hour window, opened by the first order", () => {
  const c = clock();
  const limiter = createOrderLimiter({ perHour: 3, now: c.now });
  expect(limiter.tryStart("a.example").ok).toBe(true);
  c.advance(10 * MIN);
  expect(limiter.tryStart("b.example").ok).toBe(true);
  expect(limiter.tryStart("c.example").ok).toBe(true);
  const refused = limiter.tryStart("d.example");
  expect(refused).toEqual({ ok: false, why: "hourly_limit", retryInMs: 50 * MIN });
  // The window ends an hour after the first order, not an hour after the refusal.
  c.advance(50 * MIN - 1);
  expect(limiter.tryStart("d.example").ok).toBe(false);
  c.advance(1);
  expect(limiter.tryStart("d.example").ok).toBe(true);
  expect(limiter.tryStart("e.example").ok).toBe(true);
  expect(limiter.tryStart("f.example").ok).toBe(true);
  expect(limiter.tryStart("g.example").ok).toBe(false);
});

test("a refused attempt does not use the budget", () => {
  const c = clock();
  const limiter = createOrderLimiter({ perHour: 1, now: c.now });
  expect(limiter.tryStart("a.example").ok).toBe(true);
  for (let i = 0; i < 100; i++) expect(limiter.tryStart("b.example").ok).toBe(false);
  c.advance(HOUR);
  expect(limiter.tryStart("b.example").ok).toBe(true);
});

test("a failed name waits, doubling per failure up to the cap; a success clears it", () => {
  const c = clock();
  const limiter = createOrderLimiter({ perHour: 1000, failureBackoffMs: 5 * MIN, maxBackoffMs: 30 * MIN, now: c.now });
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    expect(limiter.tryStart("t1.example").ok).toBe(true);
    limiter.failed("t1.example");
    const refused = limiter.tryStart("t1.example");
    if (refused.ok) throw new Error("expected a refusal");
    expect(refused.why).toBe("name_backoff");
    waits.push(refused.retryInMs / MIN);
    // Another name is not held back by this one's failures.
    expect(limiter.tryStart(`other${i}.example`).ok).toBe(true);
    c.advance(refused.retryInMs - 1);
    expect(limiter.tryStart("t1.example").ok).toBe(false);
    c.advance(1);
  }
  expect(waits).toEqual([5, 10, 20, 30, 30]);
  expect(limiter.tryStart("t1.example").ok).toBe(true);
  limiter.succeeded("t1.example");
  limiter.failed("t1.example");
  // Back to the first backoff after a success.
  const refused = limiter.tryStart("t1.example");
  expect(refused.ok === false && refused.retryInMs).toBe(5 * MIN);
});

test("defaults: 20 an hour, 5 minutes after a first failure", () => {
  const c = clock();
  const limiter = createOrderLimiter({ now: c.now });
  for (let i = 0; i < 20; i++) expect(limiter.tryStart(`n${i}.example`).ok).toBe(true);
  expect(limiter.tryStart("n20.example").ok).toBe(false);
  c.advance(HOUR);
  limiter.failed("n0.example");
  const refused = limiter.tryStart("n0.example");
  expect(refused.ok === false && refused.retryInMs).toBe(5 * MIN);
});

test("the CA's Retry-After is never undercut by the backoff", () => {
  const c = clock();
  const limiter = createOrderLimiter({ failureBackoffMs: 5 * MIN, now: c.now });
  expect(limiter.tryStart("t1.example").ok).toBe(true);
  limiter.failed("t1.example", 3 * HOUR);
  const refused = limiter.tryStart("t1.example");
  expect(refused.ok === false && refused.retryInMs).toBe(3 * HOUR);
  expect(limiter.tryStart("t2.example").ok).toBe(true);
  limiter.failed("t2.example", 1000); // shorter than the backoff: the backoff wins
  const backoff = limiter.tryStart("t2.example");
  expect(backoff.ok === false && backoff.retryInMs).toBe(5 * MIN);
});
