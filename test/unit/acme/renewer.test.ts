// When the renewer orders: a stored certificate with more than 30 days left is served
// and not renewed; one closer to expiry is served while a new order runs (here against
// an ACME "server" that answers 404, so the order fails at once and is retried later).
import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { createChallengeStore } from "../../../lib/acme/challenge-store.ts";
import { acmePaths, startAcmeRenewer } from "../../../lib/acme/renewer.ts";
import { generateSelfSigned, writeAtomic } from "../../../lib/tls/certificates.ts";
import { tempDir } from "../../helpers.ts";

const DOMAIN = "acme.example.test";
const DAY = 86_400_000;

async function setup(daysLeft: number) {
  const dir = tempDir("spokes-acme-unit-");
  mkdirSync(dir, { recursive: true });
  const pair = await generateSelfSigned(DOMAIN, { days: 90 });
  const paths = acmePaths(dir, DOMAIN);
  writeAtomic(paths.cert, pair.certPem, 0o644);
  writeAtomic(paths.key, pair.keyPem, 0o600);
  // The clock moves instead of the certificate: 90 days of validity, `daysLeft` remaining.
  const now = () => new Date(Date.now() + (90 - daysLeft) * DAY);
  const served: string[] = [];
  const logs: string[] = [];
  // A 4xx is not retried by acme-client (5xx and refused connections are, for ~75 s).
  const ca = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("no", { status: 404 }) });
  const renewer = startAcmeRenewer({
    directoryUrl: `http://127.0.0.1:${ca.port}/dir`,
    email: "",
    domain: DOMAIN,
    dir,
    challenges: createChallengeStore(),
    now,
    onCertificate: (p, how) => served.push(`${how}:${p.certPem === pair.certPem}`),
    log: { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) },
  });
  await renewer.check();
  renewer.stop();
  ca.stop(true);
  return { served, logs };
}

describe("startAcmeRenewer", () => {
  test("a stored certificate with more than 30 days left is reused, no order", async () => {
    const { served, logs } = await setup(40);
    expect(served).toEqual(["stored:true"]);
    expect(logs.some((l) => l.includes("ordering"))).toBe(false);
  });

  test("under 30 days left: served meanwhile, and a new order is placed (failed orders are retried)", async () => {
    const { served, logs } = await setup(20);
    expect(served).toEqual(["stored:true"]);
    expect(logs.some((l) => l.startsWith(`info ordering a certificate for ${DOMAIN}`))).toBe(true);
    expect(logs.some((l) => l.startsWith(`warn certificate order for ${DOMAIN} failed (retrying in 5 min)`))).toBe(true);
  });
});

test("challenge store", () => {
  const s = createChallengeStore();
  s.set("tok", "tok.thumb");
  expect(s.get("tok")).toBe("tok.thumb");
  s.delete("tok");
  expect(s.get("tok")).toBeUndefined();
});
