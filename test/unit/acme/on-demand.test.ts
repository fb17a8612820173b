// The on-demand certificate engine with a fake CA (an order returns a self-signed pair
// for the name) and a fake clock: admission is asked before any order, one order runs
// per name, certificates are stored and reused, a due one is renewed while it is served,
// a failed name backs off, and a handshake never waits longer than waitMs.
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { createOnDemandCertificates, type OnDemandCertificatesOptions } from "../../../lib/acme/on-demand.ts";
import { createOrderLimiter } from "../../../lib/acme/order-limiter.ts";
import { acmePaths } from "../../../lib/acme/renewer.ts";
import { generateSelfSigned, type CertificatePair } from "../../../lib/tls/certificates.ts";
import { tempDir, waitFor } from "../../helpers.ts";

const DAY = 86_400_000;
const DOMAIN = "spokes.test";

function harness(opts: { dir?: string; admitted?: string[]; order?: (name: string) => Promise<CertificatePair>; offsetDays?: number; waitMs?: number } = {}) {
  const dir = opts.dir ?? tempDir("spokes-on-demand-");
  const admitted = new Set(opts.admitted ?? ["t1.spokes.test", "t2.spokes.test"]);
  const asked: string[] = [];
  const ordered: string[] = [];
  const served = new Map<string, CertificatePair>();
  const logs: string[] = [];
  const outcomes: string[] = [];
  let clockMs = Date.now() + (opts.offsetDays ?? 0) * DAY;
  const options: OnDemandCertificatesOptions = {
    dir,
    handles: (name) => name.endsWith(`.${DOMAIN}`),
    admit: (name) => {
      asked.push(name);
      return admitted.has(name);
    },
    order: async (name) => {
      ordered.push(name);
      return opts.order ? opts.order(name) : generateSelfSigned(name, { days: 90 });
    },
    limiter: createOrderLimiter({ now: () => clockMs }),
    onCertificate: (name, pair) => void served.set(name, pair),
    onRemove: (name) => void served.delete(name),
    onOrder: (o) => void outcomes.push(o),
    directoryUrl: "https://ca.test/dir",
    waitMs: opts.waitMs,
    now: () => new Date(clockMs),
    log: { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) },
  };
  const engine = createOnDemandCertificates(options);
  return { engine, dir, admitted, asked, ordered, served, logs, outcomes, advance: (ms: number) => void (clockMs += ms) };
}

describe("on-demand certificates", () => {
  test("a name that is not admitted is never ordered; names outside the domain are not even asked about", async () => {
    const h = harness();
    await h.engine.prepare("unknown.spokes.test");
    await h.engine.prepare("t1.elsewhere.example");
    expect(h.asked).toEqual(["unknown.spokes.test"]);
    expect(h.ordered).toEqual([]);
    expect(h.served.size).toBe(0);
    h.engine.stop();
  });

  test("an admitted name is ordered once (concurrent handshakes join the order), stored 0600 and served", async () => {
    const h = harness();
    await Promise.all([h.engine.prepare("t1.spokes.test"), h.engine.prepare("t1.spokes.test"), h.engine.prepare("t1.spokes.test")]);
    expect(h.ordered).toEqual(["t1.spokes.test"]);
    expect(h.outcomes).toEqual(["success"]);
    expect(h.served.has("t1.spokes.test")).toBe(true);
    const paths = acmePaths(h.dir, "t1.spokes.test");
    expect(statSync(paths.key).mode & 0o777).toBe(0o600);
    expect(h.logs).toContain("info ordering a certificate for t1.spokes.test (on demand) from https://ca.test/dir");
    // Later handshakes are served from memory: no admission check, no order.
    h.asked.length = 0;
    await h.engine.prepare("t1.spokes.test");
    expect(h.asked).toEqual([]);
    expect(h.ordered).toEqual(["t1.spokes.test"]);
    // Stopping withdraws what the engine served.
    h.engine.stop();
    expect(h.served.size).toBe(0);
  });

  test("a stored certificate is reused by a new engine (a restart) without an order", async () => {
    const first = harness();
    await first.engine.prepare("t2.spokes.test");
    const obtained = first.served.get("t2.spokes.test")!.certPem;
    first.engine.stop();
    const second = harness({ dir: first.dir });
    await second.engine.prepare("t2.spokes.test");
    expect(second.ordered).toEqual([]);
    expect(second.asked).toEqual([]);
    expect(second.served.get("t2.spokes.test")?.certPem).toBe(obtained);
    expect(second.logs.some((l) => l.startsWith("info using the stored certificate for t2.spokes.test"))).toBe(true);
    second.engine.stop();
  });

  test("below 30 days left: the stored one is served at once and renewed in the background", async () => {
    const first = harness();
    await first.engine.prepare("t1.spokes.test");
    const original = first.served.get("t1.spokes.test")!.certPem;
    first.engine.stop();
    const later = harness({ dir: first.dir, offsetDays: 70 });
    await later.engine.prepare("t1.spokes.test");
    expect(later.served.get("t1.spokes.test")!.certPem).toBe(original);
    await later.engine.renewDue(); // joins the running order
    expect(later.ordered).toEqual(["t1.spokes.test"]);
    expect(later.served.get("t1.spokes.test")!.certPem).not.toBe(original);
    later.engine.stop();
  });

  test("the daily check renews stored names that are due and still admitted, and only those", async () => {
    const first = harness();
    await first.engine.prepare("t1.spokes.test");
    await first.engine.prepare("t2.spokes.test");
    first.engine.stop();
    const later = harness({ dir: first.dir, offsetDays: 70, admitted: ["t2.spokes.test"] });
    await later.engine.renewDue();
    expect(later.ordered).toEqual(["t2.spokes.test"]);
    later.engine.stop();
  });

  test("a failed order backs the name off: further handshakes order nothing, and the refusal is logged once", async () => {
    const h = harness({ order: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:14000")) });
    await h.engine.prepare("t1.spokes.test");
    expect(h.outcomes).toEqual(["failure"]);
    expect(h.logs).toContain("warn certificate order for t1.spokes.test failed: connect ECONNREFUSED 127.0.0.1:14000");
    for (let i = 0; i < 5; i++) await h.engine.prepare("t1.spokes.test");
    expect(h.ordered).toEqual(["t1.spokes.test"]);
    expect(h.logs.filter((l) => l.includes("not ordering a certificate for t1.spokes.test now: its last order failed (next attempt in 5 min")).length).toBe(1);
    h.advance(5 * 60_000);
    await h.engine.prepare("t1.spokes.test");
    expect(h.ordered).toEqual(["t1.spokes.test", "t1.spokes.test"]);
    h.engine.stop();
  });

  test("a handshake waits at most waitMs for an order; the order still completes afterwards", async () => {
    let finish!: () => void;
    const gate = new Promise<void>((r) => (finish = r));
    const h = harness({ waitMs: 50, order: async (name) => (await gate, generateSelfSigned(name, { days: 90 })) });
    const t0 = performance.now();
    await h.engine.prepare("t1.spokes.test");
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(45);
    expect(waited).toBeLessThan(1000);
    expect(h.served.has("t1.spokes.test")).toBe(false);
    // The next handshake joins the running order instead of starting another.
    const next = h.engine.prepare("t1.spokes.test");
    finish();
    await next;
    await waitFor(() => h.served.has("t1.spokes.test") || null, "the order to complete", 5000);
    expect(h.ordered).toEqual(["t1.spokes.test"]);
    h.engine.stop();
  });
});
