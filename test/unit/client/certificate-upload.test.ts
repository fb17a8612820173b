// Certificates uploaded through remote management: what counts as PEM content, the server's
// check, the client's storage (0600 files, paths in the config), and the pruning of files
// no rule refers to any more.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkCertificateUploads, pemContent, pruneCertificateUploads, storeCertificateUploads } from "../../../lib/client-config/certificate-upload.ts";
import { applyRemoteChange, type RemoteChange } from "../../../lib/client-config/remote-change.ts";
import { defaultClientConfig, emptyHttpRule } from "../../../lib/client-config/types.ts";
import { UserError } from "../../../lib/errors.ts";
import { generateSelfSigned } from "../../../lib/tls/certificates.ts";

const app = await generateSelfSigned("app.example.com");
const wild = await generateSelfSigned("example.com"); // covers example.com and *.example.com
const b64 = (s: string) => Buffer.from(s).toString("base64");
const site = (ca: string, privateKey: string, domain = "app.example.com") => ({ ...emptyHttpRule(domain), port: 80, ca, privateKey });
const update = (...sites: ReturnType<typeof site>[]): RemoteChange => ({ kind: "http/update", sites });
const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err.message;
    throw err;
  }
  return "";
};

describe("pemContent", () => {
  test("raw PEM and base64 of PEM are content; paths and short strings are not", () => {
    expect(pemContent(app.certPem)).toBe(app.certPem.trim());
    expect(pemContent(b64(app.keyPem))).toBe(app.keyPem.trim());
    expect(pemContent("/etc/pktriot/app.crt")).toBeUndefined();
    expect(pemContent("cert.pem")).toBeUndefined();
    expect(pemContent(b64("just some text that is long enough to look like base64 at all"))).toBeUndefined();
  });
});

describe("server check", () => {
  test("normalises base64 to PEM; refuses a half pair, a wrong key, a name not covered", () => {
    const c = checkCertificateUploads(update(site(b64(app.certPem), b64(app.keyPem))));
    expect(c).toEqual(update(site(app.certPem, app.keyPem)));
    expect(errorOf(() => checkCertificateUploads(update(site(app.certPem, "/k.pem"))))).toContain("sites[0].ca holds PEM content but sites[0].privateKey does not");
    expect(errorOf(() => checkCertificateUploads(update(site(app.certPem, wild.keyPem))))).toBe("sites[0].privateKey (private key) does not match the sites[0].ca (certificate)");
    expect(errorOf(() => checkCertificateUploads(update(site(app.certPem, app.keyPem, "b.example.com"))))).toContain("does not cover b.example.com");
    // A wildcard rule needs a wildcard certificate.
    expect(checkCertificateUploads(update(site(wild.certPem, wild.keyPem, "*.example.com"))).kind).toBe("http/update");
    expect(errorOf(() => checkCertificateUploads(update(site(app.certPem, app.keyPem, "*.example.com"))))).toContain("does not cover *.example.com");
    // Paths pass: they are the client's to check.
    expect(checkCertificateUploads(update(site("/a.crt", "/a.key")))).toEqual(update(site("/a.crt", "/a.key")));
  });
});

describe("client storage", () => {
  test("writes 0600 files under <data>/certs, puts their paths in the rule, prunes replaced and removed ones", () => {
    const dir = mkdtempSync(join(tmpdir(), "cert-upload-"));
    let config = defaultClientConfig();
    const stored = storeCertificateUploads(update(site(app.certPem, app.keyPem)), dir, config);
    const rule = (stored as { sites: { ca: string; privateKey: string }[] }).sites[0]!;
    expect(rule.ca).toMatch(new RegExp(`^${join(dir, "certs")}/app\\.example\\.com-[0-9a-f]{12}\\.crt$`));
    expect(rule.privateKey).toBe(rule.ca.replace(/\.crt$/, ".key"));
    expect(statSync(rule.ca).mode & 0o777).toBe(0o600);
    expect(statSync(rule.privateKey).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "certs")).mode & 0o777).toBe(0o700);
    config = applyRemoteChange(config, stored);
    expect(pruneCertificateUploads(dir, config)).toEqual([]);

    // The same rule again with its paths (an edit that did not touch the certificate) passes unchecked.
    expect(storeCertificateUploads(update(site(rule.ca, rule.privateKey)), dir, config)).toEqual(update(site(rule.ca, rule.privateKey)));
    // New paths are checked on the client before anything changes.
    expect(errorOf(() => storeCertificateUploads(update(site("/nope.crt", "/nope.key")), dir, config))).toBe("cannot read certificate /nope.crt: no such file");
    // Wildcard names become file names without a star.
    const w = storeCertificateUploads(update(site(wild.certPem, wild.keyPem, "*.example.com")), dir, config) as { sites: { ca: string }[] };
    expect(w.sites[0]!.ca).toContain("/_wildcard.example.com-");

    // A replacement upload is a new file; the old pair (and the unused wildcard pair) are pruned.
    const fresh = storeCertificateUploads(update(site(wild.certPem, wild.keyPem, "app.example.com")), dir, config);
    config = applyRemoteChange(config, fresh);
    const keep = join(dir, "certs", "notes.txt");
    writeFileSync(keep, "not ours");
    const removed = pruneCertificateUploads(dir, config);
    expect(removed.sort()).toEqual([rule.ca, rule.privateKey, w.sites[0]!.ca, w.sites[0]!.ca.replace(/\.crt$/, ".key")].sort());
    expect(existsSync(keep)).toBe(true);
    config = applyRemoteChange(config, { kind: "http/remove", domains: ["app.example.com"] });
    expect(pruneCertificateUploads(dir, config)).toHaveLength(2);
  });
});
