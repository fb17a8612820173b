// Let's Encrypt on the client: one ACME renewer (lib/acme/renewer.ts, the engine the
// server uses for its own domain) per `useLetsEnc` rule. The CA validates over HTTP-01
// through the tunnel: the server forwards `/.well-known/acme-challenge/` for the rule's
// host to this client, whose feature server answers it from `challenges` before any
// other feature of the rule. Files live in `dir` (`<config dir>/acme/`, keys and
// certificates 0600); the certificate in memory is what the client's TLS listener for
// the rule serves.
import type { Logger } from "../../log.ts";
import { createChallengeStore, type ChallengeStore } from "../../acme/challenge-store.ts";
import { startAcmeRenewer, type AcmeRenewer } from "../../acme/renewer.ts";
import type { CertificatePair } from "../../tls/certificates.ts";
import type { HttpRule } from "../../client-config/types.ts";

export interface RuleCertificatesOptions {
  dir: string;
  directoryUrl: string;
  email: string;
  /** Extra CA (PEM) trusted for the ACME server's HTTPS (a test CA). */
  caPem?: string;
  /** Test hooks; defaults are the renewer's (renew under 30 days, check daily, retry 5 min doubling to 6 h). */
  renewBeforeMs?: number;
  checkEveryMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface RuleCertificate extends CertificatePair {
  fingerprint: string;
}

export interface RuleCertificates {
  readonly challenges: ChallengeStore;
  /** Starts a renewer for each new `useLetsEnc` rule and stops those of removed rules. */
  apply(rules: readonly HttpRule[]): void;
  /** The certificate to serve for `domain`, once one was stored or obtained. */
  current(domain: string): RuleCertificate | undefined;
  stop(): void;
}

export function createRuleCertificates(opts: RuleCertificatesOptions, log: Logger & { error(msg: string): void }): RuleCertificates {
  const challenges = createChallengeStore();
  const renewers = new Map<string, AcmeRenewer>();
  const certificates = new Map<string, RuleCertificate>();
  const refusedWildcards = new Set<string>();

  const start = (domain: string) =>
    startAcmeRenewer({
      directoryUrl: opts.directoryUrl,
      email: opts.email,
      domain,
      dir: opts.dir,
      challenges,
      caPem: opts.caPem,
      renewBeforeMs: opts.renewBeforeMs,
      checkEveryMs: opts.checkEveryMs,
      retryMinMs: opts.retryMinMs,
      retryMaxMs: opts.retryMaxMs,
      onCertificate: (pair, _how, info) => {
        if (renewers.has(domain)) certificates.set(domain, { ...pair, fingerprint: info.fingerprint });
      },
      log,
    });

  return {
    challenges,
    apply(rules) {
      const wanted = new Set<string>();
      for (const rule of rules) {
        // A hand-edited file with both: the given certificate wins (http-features), nothing is ordered.
        if (!rule.useLetsEnc || (rule.ca && rule.privateKey)) continue;
        if (rule.domain.startsWith("*.")) {
          // HTTP-01 cannot prove a wildcard (RFC 8555 8.3); say so once, order nothing.
          if (!refusedWildcards.has(rule.domain)) log.error(`Let's Encrypt cannot issue ${rule.domain} over HTTP-01 (a wildcard needs DNS-01): give the rule --ca/--key instead`);
          refusedWildcards.add(rule.domain);
          continue;
        }
        wanted.add(rule.domain);
        if (!renewers.has(rule.domain)) renewers.set(rule.domain, start(rule.domain));
      }
      for (const [domain, renewer] of renewers) {
        if (wanted.has(domain)) continue;
        renewer.stop();
        renewers.delete(domain);
        certificates.delete(domain);
      }
    },
    current: (domain) => certificates.get(domain),
    stop() {
      for (const r of renewers.values()) r.stop();
      renewers.clear();
    },
  };
}
