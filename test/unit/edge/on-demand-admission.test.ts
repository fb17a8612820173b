// Which names may be ordered on demand: only server-terminated HTTP rules of connected
// tunnels under the server's domain; never the domain itself, look-alike suffixes,
// names nobody configured, or rules that carry their own certificate.
import { expect, test } from "bun:test";
import { createOnDemandAdmission, isUnderDomain } from "../../../lib/edge/on-demand-admission.ts";

test("isUnderDomain: strict subdomains only", () => {
  expect(isUnderDomain("t1.spokes.test", "spokes.test")).toBe(true);
  expect(isUnderDomain("a.b.spokes.test", "spokes.test")).toBe(true);
  expect(isUnderDomain("spokes.test", "spokes.test")).toBe(false);
  expect(isUnderDomain("evilspokes.test", "spokes.test")).toBe(false);
  expect(isUnderDomain(".spokes.test", "spokes.test")).toBe(false);
  expect(isUnderDomain("t1.spokes.test.evil.example", "spokes.test")).toBe(false);
  expect(isUnderDomain("t1.other.test", "spokes.test")).toBe(false);
});

test("admission follows the live routes and the domain", () => {
  let domain = "spokes.test";
  const routes = new Map<string, { rule: { ownCertificate: boolean } }>([
    ["t1.spokes.test", { rule: { ownCertificate: false } }],
    ["own.spokes.test", { rule: { ownCertificate: true } }],
    ["app.customer.example", { rule: { ownCertificate: false } }],
  ]);
  const admit = createOnDemandAdmission({ domain: () => domain, route: (name) => routes.get(name) });
  expect(admit("t1.spokes.test")).toBe(true);
  expect(admit("t2.spokes.test")).toBe(false); // nobody configured it
  expect(admit("own.spokes.test")).toBe(false); // the client terminates with its own certificate
  expect(admit("app.customer.example")).toBe(false); // a rule outside the server's domain
  expect(admit("spokes.test")).toBe(false);
  // The tunnel disconnects (its routes leave the registry): no more orders for it.
  routes.delete("t1.spokes.test");
  expect(admit("t1.spokes.test")).toBe(false);
  // The domain is changed in the dashboard: names under the old one no longer qualify.
  routes.set("t3.spokes.test", { rule: { ownCertificate: false } });
  domain = "new.example";
  expect(admit("t3.spokes.test")).toBe(false);
});
