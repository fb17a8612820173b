// How a failed ACME order is reported and retried: the one-line reason by kind (CA
// unreachable, validation failed, CA refused), the exponential backoff with its cap,
// and the CA's Retry-After (a header, or the date in a rate-limit problem) winning over
// a shorter backoff, through the renewer both sides use.
import { describe, expect, test } from "bun:test";
import { createChallengeStore } from "../../../lib/acme/challenge-store.ts";
import { AcmeOrderError, acmeRetryDelay, describeAcmeFailure } from "../../../lib/acme/order.ts";
import { startAcmeRenewer } from "../../../lib/acme/renewer.ts";
import { freePort, tempDir } from "../../helpers.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

describe("acmeRetryDelay", () => {
  test("doubles from the minimum up to the cap", () => {
    expect([1, 2, 3, 4].map((n) => acmeRetryDelay(n, 5 * MIN, 6 * HOUR))).toEqual([5 * MIN, 10 * MIN, 20 * MIN, 40 * MIN]);
    expect(acmeRetryDelay(12, 5 * MIN, 6 * HOUR)).toBe(6 * HOUR);
    expect(acmeRetryDelay(1000, 5 * MIN, 6 * HOUR)).toBe(6 * HOUR);
  });
  test("never shorter than the CA's Retry-After, even beyond the cap", () => {
    expect(acmeRetryDelay(1, 5 * MIN, 6 * HOUR, 30 * MIN)).toBe(30 * MIN);
    expect(acmeRetryDelay(20, 5 * MIN, 6 * HOUR, 10 * HOUR)).toBe(10 * HOUR);
  });
});

describe("describeAcmeFailure", () => {
  const now = new Date("2026-12-05T10:00:00Z");
  const url = "https://ca.invalid/dir";
  test("a refused connection is 'cannot reach the CA'", () => {
    const e = describeAcmeFailure(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), url, "a.test", "account", now);
    expect(e.kind).toBe("unreachable");
    expect(e.message).toBe(`cannot reach the ACME server at ${url}: ECONNREFUSED`);
  });
  test("a failure during the challenge shows the CA's validation message", () => {
    const e = describeAcmeFailure(new Error("DNS problem: NXDOMAIN looking up A for a.test"), url, "a.test", "validation", now);
    expect(e.kind).toBe("validation");
    expect(e.message).toStartWith("the CA could not validate a.test over HTTP-01 (does its DNS point at the server");
    expect(e.message).toEndWith(": DNS problem: NXDOMAIN looking up A for a.test");
  });
  test("with a DNS-01 hook, a failed validation points at the hook's TXT record", () => {
    const e = describeAcmeFailure(new Error("Incorrect TXT record"), url, "a.test", "validation", now, "dns-01");
    expect(e.message).toBe("the CA could not validate a.test over DNS-01 (did acme.dnsHook publish the TXT record where the CA looks?): Incorrect TXT record");
  });
  test("a rate limit is a refusal that names when to come back", () => {
    const detail = "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-12-05 13:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/";
    const e = describeAcmeFailure(new Error(detail), url, "a.test", "account", now);
    expect(e.kind).toBe("refused");
    expect(e.message).toBe(`the CA refused the order for a.test: ${detail}`);
    expect(e.retryAfterMs).toBe(3 * HOUR);
    expect(e).toBeInstanceOf(AcmeOrderError);
  });
  test("a multi-line message stays on one line", () => {
    expect(describeAcmeFailure(new Error("a\nb"), url, "a.test", "account", now).message).not.toContain("\n");
  });
});

/** Runs one renewer check against `directoryUrl` and returns its log lines. */
async function oneCheck(directoryUrl: string): Promise<string[]> {
  const logs: string[] = [];
  const renewer = startAcmeRenewer({
    directoryUrl,
    email: "",
    domain: "retry.example.test",
    dir: tempDir("spokes-acme-order-"),
    challenges: createChallengeStore(),
    onCertificate: () => {},
    log: { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) },
  });
  await renewer.check();
  renewer.stop();
  return logs;
}

describe("renewer retries", () => {
  test("a CA that is down: one clear line, retried after the minimum backoff", async () => {
    const port = await freePort();
    const logs = await oneCheck(`http://127.0.0.1:${port}/dir`);
    expect(logs).toContain(`warn certificate order for retry.example.test failed (retrying in 5 min): cannot reach the ACME server at http://127.0.0.1:${port}/dir: ECONNREFUSED`);
  });

  test("a Retry-After header from the CA sets the retry (2 h, not 5 min)", async () => {
    const ca = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response('{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}', { status: 429, headers: { "retry-after": "7200", "content-type": "application/problem+json" } }) });
    try {
      const logs = await oneCheck(`http://127.0.0.1:${ca.port}/dir`);
      expect(logs.find((l) => l.startsWith("warn"))).toStartWith("warn certificate order for retry.example.test failed (retrying in 2.0 h): ");
    } finally {
      ca.stop(true);
    }
  });
});
