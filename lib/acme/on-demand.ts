/**
 * On-demand certificates (as Caddy's "on-demand TLS"): in Let's Encrypt mode, a tunnel
 * name the server terminates gets a certificate of its own the first time a visitor's
 * ClientHello asks for it, since HTTP-01 cannot prove the wildcard the names would
 * otherwise share.
 *
 * A name is ordered only when `admit` says so (the caller's check that it belongs to an
 * HTTP rule of a known tunnel), asked before every order, and only when the limiter
 * allows it (per-name backoff after failures, an hourly budget). One order per name runs
 * at a time; handshakes for that name wait for it at most `waitMs`, then get whatever
 * the caller serves without one (the server's default certificate). Certificates are
 * kept next to the server's own, `<dir>/<name>.crt` and `<dir>/<name>.key` (0600),
 * reused across restarts, and renewed below `renewBeforeMs` (30 days): on the first
 * handshake that finds one due, and by a daily check over every stored name still admitted.
 */
// order.ts loads acme-client on the first order: by then lib/tls has loaded @peculiar/x509
// behind its Reflect metadata shim, and acme-client reuses that module (checked by the
// pebble e2e tests on the compiled executables).
import { AcmeOrderError, type AcmeOrder } from "./order.ts";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import type { Logger } from "../log.ts";
import { errorMessage } from "../errors.ts";
import { checkCertificatePair, writeAtomic, type CertificatePair, type LoadedCertificate } from "../tls/certificates.ts";
import type { OrderLimiter } from "./order-limiter.ts";
import { ACME_RENEW_BEFORE_MS, acmePaths, loadStoredAcmeCertificate } from "./renewer.ts";

/** How long a handshake waits for the first order of its name before it gets the default certificate. */
export const ON_DEMAND_WAIT_MS = 15_000;
const DAY_MS = 86_400_000;
/** The first renewal check runs a while after start, once tunnels had time to reconnect (admission needs their rules). */
const FIRST_CHECK_MS = 10 * 60_000;

export interface OnDemandCertificatesOptions {
  /** Where certificates are kept (`<dataPath>/acme`, shared with the server's own). */
  dir: string;
  /** Names this engine serves at all (tunnel names under the server's domain); others are never looked up or ordered. */
  handles(name: string): boolean;
  /** Whether `name` may be ordered now: asked before every order, never skipped. */
  admit(name: string): boolean | Promise<boolean>;
  order: AcmeOrder;
  limiter: OrderLimiter;
  /** A certificate to serve for `name` from now on (stored, obtained or renewed). */
  onCertificate(name: string, pair: CertificatePair): void;
  /** `name` is no longer served by this engine (it stopped). */
  onRemove(name: string): void;
  /** Each finished order (for metrics). */
  onOrder?(outcome: "success" | "failure"): void;
  /** Shown in the log line of each order. */
  directoryUrl: string;
  waitMs?: number;
  renewBeforeMs?: number;
  checkEveryMs?: number;
  firstCheckMs?: number;
  now?: () => Date;
  log: Logger;
}

export interface OnDemandCertificates {
  handles(name: string): boolean;
  /**
   * Makes sure `name` has a certificate in place if it may have one: at once when one is
   * stored (a renewal that is due goes on in the background), after the order when one
   * is needed and admitted (at most `waitMs`; the order goes on after that), at once
   * otherwise. Never rejects.
   */
  prepare(name: string): Promise<void>;
  /** Renews every stored certificate below the renewal threshold whose name is still admitted (the daily check). */
  renewDue(): Promise<void>;
  stop(): void;
}

export function createOnDemandCertificates(opts: OnDemandCertificatesOptions): OnDemandCertificates {
  const now = opts.now ?? (() => new Date());
  const renewBefore = opts.renewBeforeMs ?? ACME_RENEW_BEFORE_MS;
  const waitMs = opts.waitMs ?? ON_DEMAND_WAIT_MS;
  /** Names served by this engine, with their certificate's end (bounded by the admitted names plus stored files). */
  const served = new Map<string, { notAfter: number }>();
  const inFlight = new Map<string, Promise<void>>();
  /** Names whose refusal by the limiter was logged (once per refusal streak, not per handshake). */
  const refusalLogged = new Set<string>();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const serve = (name: string, cert: LoadedCertificate) => {
    served.set(name, { notAfter: cert.notAfter.getTime() });
    opts.onCertificate(name, { certPem: cert.certPem, keyPem: cert.keyPem });
  };
  const due = (notAfter: number) => notAfter - now().getTime() <= renewBefore;

  const runOrder = async (name: string) => {
    if (!(await opts.admit(name))) return;
    const decision = opts.limiter.tryStart(name);
    if (!decision.ok) {
      if (!refusalLogged.has(name)) {
        refusalLogged.add(name);
        const why = decision.why === "name_backoff" ? "its last order failed" : "the hourly order limit is reached";
        opts.log.warn(`not ordering a certificate for ${name} now: ${why} (next attempt in ${minutes(decision.retryInMs)} min at the earliest)`);
      }
      return;
    }
    refusalLogged.delete(name);
    opts.log.info(`ordering a certificate for ${name} (on demand) from ${opts.directoryUrl}`);
    try {
      const pair = await opts.order(name);
      const loaded = checkCertificatePair(pair.certPem, pair.keyPem, name, { now: now() });
      mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      const paths = acmePaths(opts.dir, name);
      writeAtomic(paths.key, loaded.keyPem, 0o600);
      writeAtomic(paths.cert, loaded.certPem, 0o644);
      opts.limiter.succeeded(name);
      opts.onOrder?.("success");
      opts.log.info(`obtained a certificate for ${name} (valid until ${loaded.notAfter.toISOString()})`);
      if (!stopped) serve(name, loaded);
    } catch (err) {
      opts.limiter.failed(name, err instanceof AcmeOrderError ? err.retryAfterMs : undefined);
      opts.onOrder?.("failure");
      opts.log.warn(`certificate order for ${name} failed: ${errorMessage(err)}`);
    }
  };

  /** The running order for `name`, or a new one; resolves when it ends, never rejects. */
  const obtain = (name: string): Promise<void> => {
    let running = inFlight.get(name);
    if (!running) {
      running = runOrder(name)
        .catch((err) => opts.log.warn(`certificate order for ${name} failed: ${errorMessage(err)}`))
        .finally(() => inFlight.delete(name));
      inFlight.set(name, running);
    }
    return running;
  };

  const lookup = (name: string): { notAfter: number } | undefined => {
    const known = served.get(name);
    if (known) return known;
    const stored = loadStoredAcmeCertificate(opts.dir, name, now());
    if (!stored) return undefined;
    opts.log.info(`using the stored certificate for ${name} (valid until ${stored.notAfter.toISOString()})`);
    serve(name, stored);
    return served.get(name);
  };

  const renewDue = async () => {
    const names = new Set(served.keys());
    if (existsSync(opts.dir)) {
      for (const file of readdirSync(opts.dir)) if (file.endsWith(".crt")) names.add(file.slice(0, -4));
    }
    for (const name of names) {
      if (stopped) return;
      if (!opts.handles(name)) continue;
      const cert = lookup(name);
      if (cert && due(cert.notAfter)) await obtain(name);
    }
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      void renewDue()
        .catch((err) => opts.log.warn(`on-demand certificate check failed: ${errorMessage(err)}`))
        .finally(() => schedule(opts.checkEveryMs ?? DAY_MS));
    }, ms);
    (timer as { unref?: () => void }).unref?.();
  };
  schedule(opts.firstCheckMs ?? FIRST_CHECK_MS);

  return {
    handles: (name) => opts.handles(name),
    async prepare(name) {
      if (stopped || !opts.handles(name)) return;
      try {
        const cert = lookup(name);
        if (cert && !due(cert.notAfter)) return;
        const ordering = obtain(name);
        if (cert) return; // still valid: served while the renewal runs
        let timeout: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([ordering, new Promise<void>((resolve) => (timeout = setTimeout(resolve, waitMs)))]);
        clearTimeout(timeout);
      } catch (err) {
        opts.log.warn(`certificate for ${name}: ${errorMessage(err)}`);
      }
    },
    renewDue,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      for (const name of served.keys()) opts.onRemove(name);
      served.clear();
    },
  };
}

const minutes = (ms: number) => Math.max(1, Math.ceil(ms / 60_000));
