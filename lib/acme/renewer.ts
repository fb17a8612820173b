/**
 * The server's own certificate from an ACME CA (Let's Encrypt; RFC 8555) over HTTP-01.
 *
 * `startAcmeRenewer` reuses the certificate stored in `dir` while it covers the domain
 * and has more than `renewBeforeMs` left; otherwise it orders a new one, stores it and
 * hands it to `onCertificate`. Then it checks again every `checkEveryMs` (a day), so a
 * certificate is renewed 30 days before it expires; a failed order is retried with an
 * exponential backoff (5 min doubling to 6 h) that never undercuts the CA's Retry-After.
 * Used by the server for its own domain and by the client for each `--letsencrypt` rule.
 * The order itself is ./order.ts; this module decides when to order and where the files live:
 *   <dir>/account.key   the ACME account key (0600)
 *   <dir>/<domain>.crt  the certificate chain, leaf first (0600)
 *   <dir>/<domain>.key  its private key (0600)
 */
import type { Logger } from "../log.ts";
// order.ts loads acme-client on the first order: by then lib/tls has loaded @peculiar/x509
// behind its Reflect metadata shim, and acme-client reuses that module (checked by the
// pebble e2e tests on the compiled executables).
import { AcmeOrderError, acmeRetryDelay, createAcmeOrderer } from "./order.ts";
import { existsSync, mkdirSync } from "node:fs";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkCertificatePair, writeAtomic, type CertificatePair, type LoadedCertificate } from "../tls/certificates.ts";
import { errorMessage } from "../errors.ts";
import type { ChallengeStore } from "./challenge-store.ts";

const DAY_MS = 86_400_000;
export const ACME_RENEW_BEFORE_MS = 30 * DAY_MS;
const CHECK_EVERY_MS = DAY_MS;
const RETRY_MIN_MS = 5 * 60_000;
const RETRY_MAX_MS = 6 * 3_600_000;

export interface AcmeRenewerOptions {
  directoryUrl: string;
  /** Contact address of the ACME account (may be empty). */
  email: string;
  domain: string;
  /** Where the account key and the certificate are kept (`<dataPath>/acme`). */
  dir: string;
  challenges: ChallengeStore;
  /** With a DNS-01 hook the certificate also names `*.<domain>` (lib/acme/dns-hook.ts). */
  dnsHook?: string;
  /** Extra CA certificates (PEM) to trust for the ACME server's own HTTPS (a test CA). */
  caPem?: string;
  /** Called with a certificate to serve: the stored one at start, then each new one. */
  onCertificate(pair: CertificatePair, how: "stored" | "obtained", info: LoadedCertificate): void;
  now?: () => Date;
  renewBeforeMs?: number;
  checkEveryMs?: number;
  /** Backoff after failed orders: the first retry after `retryMinMs`, doubling up to `retryMaxMs`. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Each finished certificate order (for metrics). */
  onOrder?(outcome: "success" | "failure"): void;
  log: Logger;
}

export interface AcmeRenewer {
  /** Runs one check now (start does the first); resolves when it is done, never rejects. */
  check(): Promise<void>;
  stop(): void;
}

export function acmePaths(dir: string, domain: string) {
  return { accountKey: join(dir, "account.key"), cert: join(dir, `${domain}.crt`), key: join(dir, `${domain}.key`) };
}

/** The stored certificate when it pairs with its key, covers `domain` and is not expired. */
export function loadStoredAcmeCertificate(dir: string, domain: string, now = new Date()): LoadedCertificate | undefined {
  const paths = acmePaths(dir, domain);
  if (!existsSync(paths.cert) || !existsSync(paths.key)) return undefined;
  try {
    return checkCertificatePair(readFileSync(paths.cert, "utf8"), readFileSync(paths.key, "utf8"), domain, { now });
  } catch {
    return undefined;
  }
}

export function startAcmeRenewer(opts: AcmeRenewerOptions): AcmeRenewer {
  const now = opts.now ?? (() => new Date());
  const renewBefore = opts.renewBeforeMs ?? ACME_RENEW_BEFORE_MS;
  const paths = acmePaths(opts.dir, opts.domain);
  let served: string | undefined;
  /** True between the start of an order and its end, so a failure is counted as a failed order. */
  let ordering = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  /** Failed orders in a row (the backoff exponent). */
  let failures = 0;

  const order = createAcmeOrderer(opts);
  const wildcard = opts.dnsHook ? [`*.${opts.domain}`] : [];

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void check(), ms);
    (timer as { unref?: () => void }).unref?.();
  };

  const runCheck = async () => {
    let next = opts.checkEveryMs ?? CHECK_EVERY_MS;
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      const stored = loadStoredAcmeCertificate(opts.dir, opts.domain, now());
      // A stored certificate without the wildcard the configuration now asks for is replaced (and served meanwhile).
      const complete = stored && wildcard.every((name) => stored.names.includes(name));
      const fresh = stored && complete && stored.notAfter.getTime() - now().getTime() > renewBefore;
      if (stored && fresh) {
        if (served !== stored.fingerprint) {
          served = stored.fingerprint;
          opts.log.info(`using the stored certificate for ${opts.domain} (valid until ${stored.notAfter.toISOString()})`);
          opts.onCertificate({ certPem: stored.certPem, keyPem: stored.keyPem }, "stored", stored);
        }
        return;
      }
      if (stored && served !== stored.fingerprint) {
        // Still valid, only close to expiry: serve it while the new order runs.
        served = stored.fingerprint;
        opts.onCertificate({ certPem: stored.certPem, keyPem: stored.keyPem }, "stored", stored);
      }
      if (stored) opts.log.info(`the certificate for ${opts.domain} expires ${stored.notAfter.toISOString()}: renewing`);
      opts.log.info(`ordering a certificate for ${[opts.domain, ...wildcard].join(" and ")} from ${opts.directoryUrl}${opts.dnsHook ? " (DNS-01)" : ""}`);
      ordering = true;
      const pair = await order(opts.domain, wildcard);
      const loaded = checkCertificatePair(pair.certPem, pair.keyPem, opts.domain, { now: now() });
      writeAtomic(paths.key, loaded.keyPem, 0o600);
      writeAtomic(paths.cert, loaded.certPem, 0o600);
      served = loaded.fingerprint;
      failures = 0;
      opts.log.info(`obtained a certificate for ${opts.domain} (valid until ${loaded.notAfter.toISOString()})`);
      opts.onOrder?.("success");
      if (!stopped) opts.onCertificate({ certPem: loaded.certPem, keyPem: loaded.keyPem }, "obtained", loaded);
    } catch (err) {
      if (ordering) opts.onOrder?.("failure");
      failures++;
      next = Math.min(next, acmeRetryDelay(failures, opts.retryMinMs ?? RETRY_MIN_MS, opts.retryMaxMs ?? RETRY_MAX_MS));
      const retryAfterMs = err instanceof AcmeOrderError ? err.retryAfterMs : undefined;
      if (retryAfterMs) next = Math.max(next, retryAfterMs);
      opts.log.warn(`certificate order for ${opts.domain} failed (retrying in ${formatWait(next)}): ${errorMessage(err)}`);
    } finally {
      ordering = false;
      schedule(next);
    }
  };

  const check = () => {
    if (stopped) return Promise.resolve();
    if (timer) clearTimeout(timer);
    running ??= runCheck().finally(() => (running = undefined));
    return running;
  };

  void check();
  return {
    check,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

function formatWait(ms: number): string {
  if (ms < 60_000) return `${Math.max(1, Math.round(ms / 1000))} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
