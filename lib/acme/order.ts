/**
 * One ACME certificate order over HTTP-01 (RFC 8555), shared by the renewer of the
 * server's own domain and the on-demand certificates of tunnel names. The protocol
 * (JWS, account, order, CSR) is acme-client's; this module keeps the account key in
 * `<dir>/account.key` (0600) and publishes the challenge responses in the store the
 * HTTP port answers from.
 */
import acme from "acme-client";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { rootCertificates } from "node:tls";
import { join } from "node:path";
import type { CertificatePair } from "../tls/certificates.ts";
import { errorMessage } from "../errors.ts";
import type { ChallengeStore } from "./challenge-store.ts";

export interface AcmeOrdererOptions {
  directoryUrl: string;
  /** Contact address of the ACME account (may be empty). */
  email: string;
  /** Where the account key is kept (`<dataPath>/acme`, created by the caller). */
  dir: string;
  challenges: ChallengeStore;
  /** Extra CA certificates (PEM) to trust for the ACME server's own HTTPS (a test CA). */
  caPem?: string;
}

/** Orders a certificate for `name`; rejects with acme-client's error (CA refusal, unreachable CA, failed validation). */
export type AcmeOrder = (name: string) => Promise<CertificatePair>;

// acme-client retries a refused connection, a 5xx or a 429 five times over 75 s inside
// one request. Our callers have their own retry policy (an hour later for the server's
// domain, a per-name backoff and an hourly budget for on-demand names), so an order
// fails fast instead: a handshake waiting on it is not held for a minute by a CA that is down.
// (Set when an orderer is made, not at import: the compiled executable may evaluate this
// module before acme-client's.)
function failFast() {
  const settings = (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } }).acmeSettings;
  settings.retryMaxAttempts = 2;
  settings.retryDefaultDelay = 1;
}

const DIRECTORY_TIMEOUT_MS = 10_000;

export function createAcmeOrderer(opts: AcmeOrdererOptions): AcmeOrder {
  failFast();
  if (opts.caPem) {
    // acme-client sends every request through one shared axios instance; the CA is
    // added to the public roots, not put in their place.
    acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, opts.caPem] });
  }
  const accountKeyPath = join(opts.dir, "account.key");

  const accountKey = async (): Promise<Buffer> => {
    if (existsSync(accountKeyPath)) return readFileSync(accountKeyPath);
    const key = await acme.crypto.createPrivateEcdsaKey();
    try {
      // `wx`: two orders starting at once (the domain's and a tunnel name's) keep one account.
      writeFileSync(accountKeyPath, key.toString(), { flag: "wx", mode: 0o600 });
      return key;
    } catch (err) {
      if ((err as { code?: string }).code === "EEXIST") return readFileSync(accountKeyPath);
      throw err;
    }
  };

  // acme-client loses the cause of a network failure (it ends in a TypeError once its
  // retries are spent), so reachability is checked first, with an error a person can act on.
  const tls = opts.caPem ? { ca: [...rootCertificates, opts.caPem] } : undefined;
  const checkReachable = async () => {
    try {
      await fetch(opts.directoryUrl, { tls, signal: AbortSignal.timeout(DIRECTORY_TIMEOUT_MS) } as RequestInit);
    } catch (err) {
      throw new Error(`cannot reach the ACME server at ${opts.directoryUrl}: ${errorMessage(err)}`);
    }
  };

  return async (name) => {
    await checkReachable();
    const client = new acme.Client({ directoryUrl: opts.directoryUrl, accountKey: await accountKey(), backoffMin: 500, backoffMax: 5_000 });
    const [key, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, await acme.crypto.createPrivateEcdsaKey());
    const certPem = await client.auto({
      csr,
      email: opts.email || undefined,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      // The CA validates anyway; a self-check would need this host to resolve its own
      // public name, which it often cannot (NAT, split DNS).
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => opts.challenges.set(challenge.token, keyAuthorization),
      challengeRemoveFn: async (_authz, challenge) => opts.challenges.delete(challenge.token),
    });
    return { certPem, keyPem: key.toString() };
  };
}
