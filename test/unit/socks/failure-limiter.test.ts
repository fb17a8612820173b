import { describe, expect, test } from "bun:test";
import { createFailureLimiter, failureKey } from "../../../lib/socks/failure-limiter.ts";

describe("SOCKS authentication failure limiter", () => {
  test("blocks an address after maxFailures within the window, then forgets it", () => {
    let t = 1_000;
    const lim = createFailureLimiter({ maxFailures: 3, windowMs: 10_000, now: () => t });
    for (let i = 0; i < 2; i++) lim.failed("198.51.100.7");
    expect(lim.blocked("198.51.100.7")).toBe(false);
    lim.failed("198.51.100.7");
    expect(lim.blocked("198.51.100.7")).toBe(true);
    expect(lim.blocked("198.51.100.8")).toBe(false);
    t += 10_000;
    expect(lim.blocked("198.51.100.7")).toBe(false);
    expect(lim.size).toBe(0);
  });

  test("a success clears the count", () => {
    const lim = createFailureLimiter({ maxFailures: 2 });
    lim.failed("192.0.2.1");
    lim.succeeded("192.0.2.1");
    lim.failed("192.0.2.1");
    expect(lim.blocked("192.0.2.1")).toBe(false);
  });

  test("IPv6 peers count per /64; IPv4-mapped counts as IPv4", () => {
    expect(failureKey("2001:db8:1:2:aaaa::1")).toBe(failureKey("2001:db8:1:2:ffff::9"));
    expect(failureKey("2001:db8:1:3::1")).not.toBe(failureKey("2001:db8:1:2::1"));
    expect(failureKey("::ffff:192.0.2.1")).toBe("192.0.2.1");
    const lim = createFailureLimiter({ maxFailures: 2 });
    lim.failed("2001:db8::1");
    lim.failed("2001:db8::2");
    expect(lim.blocked("2001:db8::3")).toBe(true);
  });

  test("memory stays bounded: the least recently failed address is dropped", () => {
    const lim = createFailureLimiter({ maxFailures: 1, maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) lim.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    expect(lim.size).toBe(100);
    expect(lim.blocked("10.0.39.15")).toBe(true); // i = 9999, the newest
    expect(lim.blocked("10.0.0.0")).toBe(false); // i = 0, long dropped
  });
});
