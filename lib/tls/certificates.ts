/**
 * The server's TLS certificates: self-signed generation, loading and checking a
 * custom certificate + key, which names a certificate covers, and the fingerprint
 * clients pin.
 *
 * Generation uses @peculiar/x509 over WebCrypto (no `openssl` at run time: the
 * compiled executable must be self-contained); checks use node:crypto's
 * X509Certificate (key pairing, dates, DER) and @peculiar/x509 to read the
 * subjectAltName list. Every problem a person can fix is a one-line UserError.
 */
import { X509Certificate, createHash, createPrivateKey, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError, errorMessage } from "../errors.ts";
import { nameCovers, normalizeSniHostname } from "../net/hostname.ts";
import { x509 } from "./x509.ts";

export interface CertificatePair {
  /** PEM, leaf first, then any intermediates. */
  certPem: string;
  /** PEM private key of the leaf. */
  keyPem: string;
}

export interface CertificateInfo {
  /** Lowercased DNS names the leaf is valid for (subjectAltName, or the CN when there is none). */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** `sha256:<hex>` of the leaf, see sha256Fingerprint. */
  fingerprint: string;
}

export interface LoadedCertificate extends CertificatePair, CertificateInfo {}

const DAY_MS = 86_400_000;
/** ensureServerCertificate regenerates a self-signed certificate this close to its expiry. */
export const SELF_SIGNED_RENEW_BEFORE_MS = 30 * DAY_MS;
const SELF_SIGNED_VALIDITY_DAYS = 365;

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

// ---------------------------------------------------------------------------
// Generation

/**
 * A self-signed ECDSA P-256 certificate for `domain` and `*.domain` (subjectAltName),
 * CN=domain, valid from an hour ago (clock skew) for one year, serverAuth only.
 */
export async function generateSelfSigned(domain: string, opts: { now?: Date; days?: number } = {}): Promise<CertificatePair> {
  const name = normalizeSniHostname(domain);
  if (name === null) throw new UserError(`cannot create a certificate for "${domain}": not a valid domain name`);
  const now = opts.now?.getTime() ?? Date.now();
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0] & 0x7f) | 0x01; // positive and 16 bytes long (RFC 5280 §4.1.2.2)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString("hex"),
    name: `CN=${name}`,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + (opts.days ?? SELF_SIGNED_VALIDITY_DAYS) * DAY_MS),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: name },
        { type: "dns", value: `*.${name}` },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: cert.toString("pem") + "\n", keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n" };
}

// ---------------------------------------------------------------------------
// Loading and checking

/**
 * Reads a PEM certificate file (leaf first, full chain allowed) and a PEM private
 * key file, and checks them for `domain`: see checkCertificatePair.
 */
export function loadCertificatePair(certPath: string, keyPath: string, domain: string, opts: { now?: Date } = {}): LoadedCertificate {
  const certPem = readText(certPath, "TLS certificate file");
  const keyPem = readText(keyPath, "TLS private key file");
  return checkCertificatePair(certPem, keyPem, domain, { ...opts, certLabel: `TLS certificate ${certPath}`, keyLabel: `TLS private key ${keyPath}` });
}

/**
 * Checks a certificate + key given as PEM text (a file's or a dashboard upload's):
 * both parse, the key pairs with the leaf (the first certificate), the leaf covers
 * `domain` (wildcards allowed, one label), and it has not expired. Returns the
 * normalised pair (certificates only, leaf first; the key block only) with its
 * names, dates and fingerprint. Throws a one-line UserError for each problem.
 */
export function checkCertificatePair(
  certPem: string,
  keyPem: string,
  domain: string,
  opts: { now?: Date; certLabel?: string; keyLabel?: string } = {},
): LoadedCertificate {
  const certLabel = opts.certLabel ?? "TLS certificate";
  const keyLabel = opts.keyLabel ?? "TLS private key";
  const host = normalizeSniHostname(domain);
  if (host === null) throw new UserError(`"${domain}" is not a valid domain name`);

  const blocks = certPem.match(CERT_BLOCK);
  if (!blocks) throw new UserError(`${certLabel} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  const chain = blocks.map((pem, i) => {
    try {
      return new X509Certificate(pem);
    } catch (err) {
      throw new UserError(`${certLabel}: certificate #${i + 1} in the file cannot be parsed (${errorMessage(err)})`);
    }
  });

  const keyMatch = KEY_BLOCK.exec(keyPem);
  if (!keyMatch) throw new UserError(`${keyLabel} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`);
  if (keyMatch[1] === "ENCRYPTED PRIVATE KEY") throw new UserError(`${keyLabel} is encrypted with a passphrase; provide the key unencrypted`);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyMatch[0]);
  } catch (err) {
    throw new UserError(`${keyLabel} cannot be parsed (${errorMessage(err)})`);
  }

  const leaf = chain[0];
  if (!safeCheckKey(leaf, key)) {
    const other = chain.findIndex((c, i) => i > 0 && safeCheckKey(c, key));
    if (other > 0) throw new UserError(`${certLabel} must start with the server certificate: the key matches certificate #${other + 1} in the file`);
    throw new UserError(`${keyLabel} does not match the ${certLabel.replace(/^TLS /, "")}`);
  }

  const info = leafInfo(leaf, blocks[0]);
  if (!namesCover(info.names, host)) {
    const covered = info.names.length ? info.names.join(", ") : "no DNS names";
    throw new UserError(`${certLabel} does not cover ${host} (it covers: ${covered})`);
  }
  const now = opts.now ?? new Date();
  if (info.notAfter.getTime() <= now.getTime()) {
    throw new UserError(`${certLabel} expired on ${info.notAfter.toISOString()}`);
  }
  return { certPem: blocks.join("\n") + "\n", keyPem: keyMatch[0] + "\n", ...info };
}

function safeCheckKey(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false; // e.g. an RSA key against an EC certificate
  }
}

function readText(path: string, label: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : errorMessage(err);
    throw new UserError(`cannot read ${label} ${path}: ${why}`);
  }
}

// ---------------------------------------------------------------------------
// Names and fingerprints

function leafInfo(leaf: X509Certificate, pem: string): CertificateInfo {
  return {
    names: namesOf(pem),
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
    fingerprint: fingerprintOfDer(leaf.raw),
  };
}

/**
 * DNS names of a PEM certificate (the first one in the text): the subjectAltName
 * dNSName entries lowercased, or — only when there are none — the subject CN, as
 * RFC 6125 §6.4.4 allows.
 */
export function certificateNames(certPem: string): string[] {
  const first = certPem.match(CERT_BLOCK)?.[0];
  if (!first) throw new UserError("not a PEM certificate");
  return namesOf(first);
}

function namesOf(pem: string): string[] {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names: string[] = [];
  for (const n of san?.names.items ?? []) {
    if (n.type === "dns") names.push(n.value.toLowerCase());
  }
  if (names.length === 0) {
    for (const cn of cert.subjectName.getField("CN")) names.push(cn.toLowerCase());
  }
  return names;
}

/** Whether one of `names` (as from certificateNames) covers the lowercase `hostname`. */
export function namesCover(names: readonly string[], hostname: string): boolean {
  for (const n of names) if (nameCovers(n, hostname)) return true;
  return false;
}

let lastPem = "";
let lastNames: string[] = [];

/**
 * Whether the certificate can serve `hostname` (wildcards cover one label). Used to
 * decide whether the server terminates a tunnel's hostname with its own certificate.
 * Remembers the last certificate parsed, as it is nearly always the same one.
 */
export function certificateCovers(certPem: string, hostname: string): boolean {
  const host = normalizeSniHostname(hostname);
  if (host === null) return false;
  if (certPem !== lastPem) {
    lastNames = certificateNames(certPem);
    lastPem = certPem;
  }
  return namesCover(lastNames, host);
}

/**
 * The fingerprint clients pin (`serverKey` in the client configuration,
 * `--fingerprint`): `sha256:` followed by the SHA-256 of the leaf certificate's DER
 * encoding in 64 lowercase hex digits, without colons. Takes PEM (the first
 * certificate is the leaf) or DER bytes (e.g. a TLS peer certificate's `raw`).
 */
export function sha256Fingerprint(cert: string | Uint8Array): string {
  if (typeof cert !== "string") return fingerprintOfDer(cert);
  const first = cert.match(CERT_BLOCK)?.[0];
  if (!first) throw new UserError("not a PEM certificate");
  return fingerprintOfDer(new X509Certificate(first).raw);
}

function fingerprintOfDer(der: Uint8Array): string {
  return "sha256:" + createHash("sha256").update(der).digest("hex");
}

/**
 * A fingerprint as a person may type it — with or without `sha256:`, upper or
 * lower case, with or without colons (`AB:CD:...` as openssl prints it) — in the
 * canonical `sha256:<hex>` form, or null when it is not 32 bytes of hex.
 */
export function normalizeFingerprint(input: string): string | null {
  let s = input.trim().toLowerCase();
  if (s.startsWith("sha256:")) s = s.slice(7);
  else if (s.startsWith("sha256/")) s = s.slice(7);
  s = s.replaceAll(":", "");
  return /^[0-9a-f]{64}$/.test(s) ? "sha256:" + s : null;
}

// ---------------------------------------------------------------------------
// The server's own certificate

export interface ServerCertificateOptions {
  mode: "selfSigned" | "custom";
  domain: string;
  /** The server's data directory; the self-signed pair lives in `<dataPath>/tls/`. */
  dataPath: string;
  /** Certificate file path (mode "custom"). */
  certificate?: string;
  /** Private key file path (mode "custom"). */
  privateKey?: string;
  now?: Date;
}

export interface ServerCertificate extends LoadedCertificate {
  /** True when a self-signed certificate was (re)generated by this call. */
  generated: boolean;
  certPath: string;
  keyPath: string;
}

/** Where the self-signed certificate and key are kept under the data directory. */
export function selfSignedPaths(dataPath: string): { certPath: string; keyPath: string } {
  return { certPath: join(dataPath, "tls", "self-signed.crt"), keyPath: join(dataPath, "tls", "self-signed.key") };
}

/**
 * The certificate the server terminates its own domain with.
 * - "custom": loads and checks the configured files (errors as loadCertificatePair).
 * - "selfSigned": reuses `<dataPath>/tls/self-signed.{crt,key}` when they pair, cover
 *   the domain and its wildcard, and are valid for more than 30 more days; otherwise
 *   (missing, damaged, domain changed, expiring) generates and stores a new pair,
 *   the key readable by the owner only.
 * Let's Encrypt certificates come from the ACME module, not from here.
 */
export async function ensureServerCertificate(opts: ServerCertificateOptions): Promise<ServerCertificate> {
  const now = opts.now ?? new Date();
  if (opts.mode === "custom") {
    if (!opts.certificate || !opts.privateKey) throw new UserError("tls.certificate and tls.privateKey are both required for a custom certificate");
    const loaded = loadCertificatePair(opts.certificate, opts.privateKey, opts.domain, { now });
    return { ...loaded, generated: false, certPath: opts.certificate, keyPath: opts.privateKey };
  }
  const host = normalizeSniHostname(opts.domain);
  if (host === null) throw new UserError(`"${opts.domain}" is not a valid domain name`);
  const { certPath, keyPath } = selfSignedPaths(opts.dataPath);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const loaded = usableSelfSigned({ certPem: readFileSync(certPath, "utf8"), keyPem: readFileSync(keyPath, "utf8") }, host, now);
    if (loaded) return { ...loaded, generated: false, certPath, keyPath };
  }
  const pair = await generateSelfSigned(host, { now });
  storeSelfSigned(opts.dataPath, pair);
  const loaded = checkCertificatePair(pair.certPem, pair.keyPem, host, { now });
  return { ...loaded, generated: true, certPath, keyPath };
}

/** A self-signed pair that pairs, covers `host` and `*.host`, and has more than 30 days left; else undefined. */
function usableSelfSigned(pair: CertificatePair, host: string, now: Date): LoadedCertificate | undefined {
  try {
    const loaded = checkCertificatePair(pair.certPem, pair.keyPem, host, { now });
    const fresh = loaded.notAfter.getTime() - now.getTime() > SELF_SIGNED_RENEW_BEFORE_MS;
    return fresh && loaded.names.includes(`*.${host}`) ? loaded : undefined;
  } catch {
    // Damaged, mismatched or for another domain: the caller replaces it.
    return undefined;
  }
}

/** Writes the self-signed pair to `<dataPath>/tls/` (the key readable by the owner only). */
function storeSelfSigned(dataPath: string, pair: CertificatePair): void {
  const { certPath, keyPath } = selfSignedPaths(dataPath);
  try {
    mkdirSync(dirname(certPath), { recursive: true, mode: 0o700 });
    writeAtomic(keyPath, pair.keyPem, 0o600);
    writeAtomic(certPath, pair.certPem, 0o644);
  } catch (err) {
    throw new UserError(`cannot store the self-signed certificate in ${dirname(certPath)}: ${errorMessage(err)}`);
  }
}

/**
 * Where the nodes of a cluster keep the one self-signed certificate they all present
 * (the database), so a client's `--ca` file or pinned fingerprint holds on every node.
 */
export interface SharedCertificateStore {
  /** The pair the cluster shares now, if any. */
  load(): Promise<CertificatePair | undefined>;
  /**
   * Offers `pair`: stored when there is none yet, or in place of `replacing` while that is
   * still the stored one (a node that raced us wins). Returns the pair stored afterwards.
   */
  claim(pair: CertificatePair, replacing: CertificatePair | undefined): Promise<CertificatePair>;
}

/**
 * The self-signed certificate of a cluster node: the cluster's shared pair when it is
 * usable (as ensureServerCertificate judges a file); otherwise this node offers its own
 * (`<dataPath>/tls/`, made if needed, so a standalone server that becomes the first node
 * keeps the certificate its clients already trust) and takes whichever the store kept.
 * The pair in use is also written to `<dataPath>/tls/`, so the CA file clients are given
 * is the same on every node. `claimed`: this node's pair became the cluster's.
 */
export async function ensureSharedSelfSigned(
  opts: { domain: string; dataPath: string; now?: Date },
  store: SharedCertificateStore,
): Promise<ServerCertificate & { claimed: boolean }> {
  const now = opts.now ?? new Date();
  const host = normalizeSniHostname(opts.domain);
  if (host === null) throw new UserError(`"${opts.domain}" is not a valid domain name`);
  const { certPath, keyPath } = selfSignedPaths(opts.dataPath);
  const stored = await store.load();
  let loaded = stored && usableSelfSigned(stored, host, now);
  let claimed = false;
  let generated = false;
  if (!loaded) {
    const own = await ensureServerCertificate({ mode: "selfSigned", domain: host, dataPath: opts.dataPath, now });
    const kept = await store.claim({ certPem: own.certPem, keyPem: own.keyPem }, stored);
    loaded = usableSelfSigned(kept, host, now);
    if (!loaded) throw new UserError(`the cluster's shared certificate in the database does not serve ${host} and could not be replaced`);
    claimed = kept.certPem === own.certPem;
    generated = claimed && own.generated;
  }
  const local = existsSync(certPath) && existsSync(keyPath) ? readFileSync(certPath, "utf8") : "";
  if (local !== loaded.certPem) storeSelfSigned(opts.dataPath, loaded);
  return { ...loaded, generated, claimed, certPath, keyPath };
}

export function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
