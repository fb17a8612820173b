import { describe, expect, test } from "bun:test";
import { X509Certificate, createPrivateKey, generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../lib/errors.ts";
import {
  certificateCovers,
  certificateNames,
  checkCertificatePair,
  ensureServerCertificate,
  ensureSharedSelfSigned,
  generateSelfSigned,
  loadCertificatePair,
  normalizeFingerprint,
  selfSignedPaths,
  sha256Fingerprint,
  type CertificatePair,
  type SharedCertificateStore,
} from "../../../lib/tls/certificates.ts";
import { x509 } from "../../../lib/tls/x509.ts";
import { tempDir } from "../../helpers.ts";

const DAY = 86_400_000;

/** A certificate signed by `issuer` (or self-signed), for chain and CN-only cases. */
async function makeCert(opts: {
  cn: string;
  dns?: string[];
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  issuer?: { cert: InstanceType<typeof x509.X509Certificate>; key: CryptoKey };
}): Promise<{ cert: InstanceType<typeof x509.X509Certificate>; keys: CryptoKeyPair; pair: CertificatePair }> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const extensions: InstanceType<typeof x509.Extension>[] = [new x509.BasicConstraintsExtension(Boolean(opts.ca), undefined, true)];
  if (opts.dns) extensions.push(new x509.SubjectAlternativeNameExtension(opts.dns.map((value) => ({ type: "dns" as const, value }))));
  const common = {
    serialNumber: "0" + Math.floor(Math.random() * 1e9).toString(16),
    notBefore: opts.notBefore ?? new Date(Date.now() - DAY),
    notAfter: opts.notAfter ?? new Date(Date.now() + 90 * DAY),
    signingAlgorithm: alg,
    extensions,
  };
  const cert = opts.issuer
    ? await x509.X509CertificateGenerator.create({
        ...common,
        subject: `CN=${opts.cn}`,
        issuer: opts.issuer.cert.subject,
        publicKey: keys.publicKey,
        signingKey: opts.issuer.key,
      })
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: `CN=${opts.cn}`, keys });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert, keys, pair: { certPem: cert.toString("pem") + "\n", keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n" } };
}

function writePair(dir: string, name: string, certPem: string, keyPem: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, certPem);
  writeFileSync(key, keyPem);
  return { cert, key };
}

function userErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    const msg = (err as Error).message;
    expect(msg).not.toContain("\n");
    return msg;
  }
  throw new Error("expected a UserError");
}

describe("generateSelfSigned", () => {
  test("covers the domain and its wildcard, pairs with its key, valid one year", async () => {
    const { certPem, keyPem } = await generateSelfSigned("Spokes.Test");
    const cert = new X509Certificate(certPem);
    expect(cert.subjectAltName).toBe("DNS:spokes.test, DNS:*.spokes.test");
    expect(cert.subject).toBe("CN=spokes.test");
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.ca).toBe(false);
    const days = (cert.validToDate.getTime() - Date.now()) / DAY;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThan(366);
    expect(certificateNames(certPem)).toEqual(["spokes.test", "*.spokes.test"]);
  });

  test("rejects a name that is not a domain", async () => {
    await expect(generateSelfSigned("not a domain")).rejects.toBeInstanceOf(UserError);
  });

  test("is served by Bun.serve and verified by fetch with tls.ca and by curl --cacert", async () => {
    const { certPem, keyPem } = await generateSelfSigned("spokes.test");
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: certPem, key: keyPem }, fetch: () => new Response("terminated") });
    try {
      const url = `https://127.0.0.1:${server.port}/`;
      const ok = await fetch(url, { tls: { ca: certPem, serverName: "app.spokes.test" } } as RequestInit);
      expect(await ok.text()).toBe("terminated");
      await expect(fetch(url, { tls: { serverName: "app.spokes.test" } } as RequestInit)).rejects.toThrow();

      const dir = tempDir();
      writeFileSync(join(dir, "ca.pem"), certPem);
      // The server runs in this process: spawn without blocking its event loop.
      const curl = async (host: string) => {
        const p = Bun.spawn(
          ["curl", "-sS", "--max-time", "5", "--cacert", join(dir, "ca.pem"), "--resolve", `${host}:${server.port}:127.0.0.1`, `https://${host}:${server.port}/`],
          { stdout: "pipe", stderr: "pipe" },
        );
        const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        return { stdout, stderr, code };
      };
      for (const host of ["spokes.test", "app.spokes.test"]) {
        expect(await curl(host)).toEqual({ stdout: "terminated", stderr: "", code: 0 });
      }
      // One label only: a.b.spokes.test is not covered by *.spokes.test.
      expect((await curl("a.b.spokes.test")).code).not.toBe(0);
    } finally {
      server.stop(true);
    }
  });
});

describe("loadCertificatePair", () => {
  test("accepts a matching pair and a full chain (leaf first)", async () => {
    const dir = tempDir();
    const ca = await makeCert({ cn: "Test CA", ca: true, notAfter: new Date(Date.now() + 365 * DAY) });
    const leaf = await makeCert({ cn: "www.example.test", dns: ["www.example.test", "*.example.test"], issuer: { cert: ca.cert, key: ca.keys.privateKey } });
    const files = writePair(dir, "chain", leaf.pair.certPem + ca.pair.certPem, "junk before\n" + leaf.pair.keyPem);
    const loaded = loadCertificatePair(files.cert, files.key, "App.Example.Test");
    expect(loaded.names).toEqual(["www.example.test", "*.example.test"]);
    expect(loaded.certPem.match(/BEGIN CERTIFICATE/g)?.length).toBe(2);
    expect(loaded.keyPem.startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true);
    expect(loaded.fingerprint).toBe(sha256Fingerprint(leaf.pair.certPem));
    expect(loaded.notAfter.getTime()).toBe(leaf.cert.notAfter.getTime());
  });

  test("missing file", () => {
    const dir = tempDir();
    const msg = userErrorOf(() => loadCertificatePair(join(dir, "nope.crt"), join(dir, "nope.key"), "a.test"));
    expect(msg).toBe(`cannot read TLS certificate file ${join(dir, "nope.crt")}: no such file`);
  });

  test("garbage instead of PEM, in the certificate and in the key", async () => {
    const dir = tempDir();
    const good = await generateSelfSigned("a.test");
    const garbage = writePair(dir, "garbage", "hello, I am not a certificate\n", "nor a key\n");
    expect(userErrorOf(() => loadCertificatePair(garbage.cert, garbage.key, "a.test"))).toContain("is not a PEM certificate");
    const badKey = writePair(dir, "badkey", good.certPem, "nor a key\n");
    expect(userErrorOf(() => loadCertificatePair(badKey.cert, badKey.key, "a.test"))).toContain("is not a PEM private key");
    const corrupt = writePair(dir, "corrupt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", good.keyPem);
    expect(userErrorOf(() => loadCertificatePair(corrupt.cert, corrupt.key, "a.test"))).toContain("cannot be parsed");
  });

  test("key that does not match the certificate (same and different key types)", async () => {
    const dir = tempDir();
    const a = await generateSelfSigned("a.test");
    const b = await generateSelfSigned("a.test");
    const files = writePair(dir, "mismatch", a.certPem, b.keyPem);
    expect(userErrorOf(() => loadCertificatePair(files.cert, files.key, "a.test"))).toBe(
      `TLS private key ${files.key} does not match the certificate ${files.cert}`,
    );
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }) as string;
    const rsaFiles = writePair(dir, "rsa", a.certPem, rsa);
    expect(userErrorOf(() => loadCertificatePair(rsaFiles.cert, rsaFiles.key, "a.test"))).toContain("does not match");
  });

  test("chain in the wrong order names the problem", async () => {
    const dir = tempDir();
    const ca = await makeCert({ cn: "Test CA", ca: true });
    const leaf = await makeCert({ cn: "a.test", dns: ["a.test"], issuer: { cert: ca.cert, key: ca.keys.privateKey } });
    const files = writePair(dir, "order", ca.pair.certPem + leaf.pair.certPem, leaf.pair.keyPem);
    expect(userErrorOf(() => loadCertificatePair(files.cert, files.key, "a.test"))).toContain("must start with the server certificate");
  });

  test("encrypted private key", async () => {
    const dir = tempDir();
    const a = await generateSelfSigned("a.test");
    const enc = createPrivateKey(a.keyPem).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }) as string;
    const files = writePair(dir, "enc", a.certPem, enc);
    expect(userErrorOf(() => loadCertificatePair(files.cert, files.key, "a.test"))).toContain("is encrypted");
  });

  test("certificate for another domain names what it covers", async () => {
    const dir = tempDir();
    const a = await generateSelfSigned("other.test");
    const files = writePair(dir, "wrong", a.certPem, a.keyPem);
    expect(userErrorOf(() => loadCertificatePair(files.cert, files.key, "spokes.example.com"))).toBe(
      `TLS certificate ${files.cert} does not cover spokes.example.com (it covers: other.test, *.other.test)`,
    );
    // The wildcard covers one label only.
    expect(userErrorOf(() => loadCertificatePair(files.cert, files.key, "a.b.other.test"))).toContain("does not cover a.b.other.test");
    expect(loadCertificatePair(files.cert, files.key, "x.other.test").names).toContain("*.other.test");
  });

  test("expired certificate (notAfter in the past)", async () => {
    const dir = tempDir();
    const old = await makeCert({ cn: "a.test", dns: ["a.test"], notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 35 * DAY) });
    const files = writePair(dir, "expired", old.pair.certPem, old.pair.keyPem);
    const msg = userErrorOf(() => loadCertificatePair(files.cert, files.key, "a.test"));
    expect(msg).toStartWith(`TLS certificate ${files.cert} expired on `);
    expect(msg).toContain(old.cert.notAfter.toISOString().slice(0, 10));
  });

  test("uploaded PEM text is checked the same way", async () => {
    const a = await generateSelfSigned("a.test");
    expect(checkCertificatePair(a.certPem, a.keyPem, "www.a.test").names).toEqual(["a.test", "*.a.test"]);
    expect(userErrorOf(() => checkCertificatePair(a.certPem, a.keyPem, "b.test"))).toBe("TLS certificate does not cover b.test (it covers: a.test, *.a.test)");
  });
});

describe("names, coverage and fingerprints", () => {
  test("CN is used only when there is no subjectAltName", async () => {
    const cnOnly = await makeCert({ cn: "Legacy.Test" });
    expect(certificateNames(cnOnly.pair.certPem)).toEqual(["legacy.test"]);
    const both = await makeCert({ cn: "cn.test", dns: ["san.test"] });
    expect(certificateNames(both.pair.certPem)).toEqual(["san.test"]);
    expect(certificateCovers(both.pair.certPem, "cn.test")).toBe(false);
  });

  test("certificateCovers: exact, one-label wildcard, case, invalid names", async () => {
    const { certPem } = await generateSelfSigned("example.test");
    const cases: [string, boolean][] = [
      ["example.test", true],
      ["EXAMPLE.test", true],
      ["a.example.test", true],
      ["a.b.example.test", false],
      ["xexample.test", false],
      ["other.test", false],
      [".example.test", false],
      ["", false],
    ];
    for (const [host, want] of cases) expect([host, certificateCovers(certPem, host)]).toEqual([host, want]);
  });

  test("sha256Fingerprint is the SHA-256 of the leaf DER, lowercase hex", async () => {
    const { certPem } = await generateSelfSigned("a.test");
    const cert = new X509Certificate(certPem);
    const expected = "sha256:" + cert.fingerprint256.replaceAll(":", "").toLowerCase();
    expect(sha256Fingerprint(certPem)).toBe(expected);
    expect(sha256Fingerprint(cert.raw)).toBe(expected);
    expect(normalizeFingerprint(cert.fingerprint256)).toBe(expected);
    expect(normalizeFingerprint(expected.toUpperCase())).toBe(expected);
    expect(normalizeFingerprint("sha256:abcd")).toBeNull();
  });
});

describe("ensureServerCertificate", () => {
  test("self-signed: created once, reused, replaced when the domain changes or expiry is near", async () => {
    const dataPath = tempDir();
    const first = await ensureServerCertificate({ mode: "selfSigned", domain: "spokes.test", dataPath });
    expect(first.generated).toBe(true);
    const paths = selfSignedPaths(dataPath);
    expect(first.certPath).toBe(paths.certPath);
    expect(existsSync(paths.certPath)).toBe(true);
    expect(statSync(paths.keyPath).mode & 0o777).toBe(0o600);

    const again = await ensureServerCertificate({ mode: "selfSigned", domain: "spokes.test", dataPath });
    expect(again.generated).toBe(false);
    expect(again.fingerprint).toBe(first.fingerprint);

    const renamed = await ensureServerCertificate({ mode: "selfSigned", domain: "edge.test", dataPath });
    expect(renamed.generated).toBe(true);
    expect(renamed.names).toEqual(["edge.test", "*.edge.test"]);

    const later = new Date(Date.now() + 340 * DAY);
    const renewed = await ensureServerCertificate({ mode: "selfSigned", domain: "edge.test", dataPath, now: later });
    expect(renewed.generated).toBe(true);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(renamed.notAfter.getTime());

    writeFileSync(paths.certPath, "damaged");
    expect((await ensureServerCertificate({ mode: "selfSigned", domain: "edge.test", dataPath })).generated).toBe(true);
  });

  test("custom: loads the configured files and reports their problems", async () => {
    const dir = tempDir();
    const a = await generateSelfSigned("spokes.test");
    const files = writePair(dir, "custom", a.certPem, a.keyPem);
    const loaded = await ensureServerCertificate({ mode: "custom", domain: "spokes.test", dataPath: dir, certificate: files.cert, privateKey: files.key });
    expect(loaded.generated).toBe(false);
    expect(loaded.fingerprint).toBe(sha256Fingerprint(a.certPem));
    await expect(
      ensureServerCertificate({ mode: "custom", domain: "other.test", dataPath: dir, certificate: files.cert, privateKey: files.key }),
    ).rejects.toThrow("does not cover other.test");
  });
});

/** The database row of a cluster, in memory: first writer wins, replacement only of what was read. */
function memoryStore(): SharedCertificateStore & { pair?: CertificatePair; claims: number } {
  const store = {
    pair: undefined as CertificatePair | undefined,
    claims: 0,
    async load() {
      return store.pair;
    },
    async claim(pair: CertificatePair, replacing: CertificatePair | undefined) {
      store.claims++;
      await Bun.sleep(1); // let a racing node interleave
      if (store.pair === replacing || store.pair?.certPem === replacing?.certPem) store.pair = pair;
      return store.pair!;
    },
  };
  return store;
}

describe("ensureSharedSelfSigned (one certificate for every node of a cluster)", () => {
  test("the first node offers the pair it already had; the next node loads it and writes it to its own data dir", async () => {
    const store = memoryStore();
    const dirA = tempDir();
    const before = await ensureServerCertificate({ mode: "selfSigned", domain: "spokes.test", dataPath: dirA });
    const a = await ensureSharedSelfSigned({ domain: "spokes.test", dataPath: dirA }, store);
    expect(a).toMatchObject({ claimed: true, generated: false, fingerprint: before.fingerprint });
    const dirB = tempDir();
    const b = await ensureSharedSelfSigned({ domain: "spokes.test", dataPath: dirB }, store);
    expect(b).toMatchObject({ claimed: false, generated: false, fingerprint: a.fingerprint });
    const paths = selfSignedPaths(dirB);
    expect(sha256Fingerprint(readFileSync(paths.certPath, "utf8"))).toBe(a.fingerprint);
    expect(statSync(paths.keyPath).mode & 0o777).toBe(0o600);
    // A restart of node b reads the same one again.
    expect((await ensureSharedSelfSigned({ domain: "spokes.test", dataPath: dirB }, store)).fingerprint).toBe(a.fingerprint);
  });

  test("three nodes starting at once end up with one certificate", async () => {
    const store = memoryStore();
    const nodes = await Promise.all([tempDir(), tempDir(), tempDir()].map((dataPath) => ensureSharedSelfSigned({ domain: "spokes.test", dataPath }, store)));
    expect(new Set(nodes.map((n) => n.fingerprint)).size).toBe(1);
    expect(nodes.filter((n) => n.claimed)).toHaveLength(1);
    expect(nodes[0]!.fingerprint).toBe(sha256Fingerprint(store.pair!.certPem));
  });

  test("a stored certificate for another domain or near its expiry is replaced by the next node that starts", async () => {
    const store = memoryStore();
    store.pair = await generateSelfSigned("old.test");
    const renamed = await ensureSharedSelfSigned({ domain: "spokes.test", dataPath: tempDir() }, store);
    expect(renamed.claimed).toBe(true);
    expect(renamed.names).toEqual(["spokes.test", "*.spokes.test"]);
    const later = new Date(Date.now() + 340 * DAY);
    const renewed = await ensureSharedSelfSigned({ domain: "spokes.test", dataPath: tempDir(), now: later }, store);
    expect(renewed).toMatchObject({ claimed: true, generated: true });
    expect(renewed.notAfter.getTime()).toBeGreaterThan(renamed.notAfter.getTime());
  });
});
