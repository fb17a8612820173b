/**
 * One ACME certificate order over HTTP-01, or DNS-01 through a hook (RFC 8555), shared by the renewer of the
 * server's own domain, the on-demand certificates of tunnel names and the client's
 * `--letsencrypt` rules. The protocol (JWS, account, order, CSR) is acme-client's; this
 * module keeps the account key in `<dir>/account.key` (0600), publishes the challenge
 * responses in the store the HTTP port answers from, turns failures into one-line
 * reasons a person can act on (the CA cannot be reached, the CA could not validate the
 * name, the CA refused) and remembers the CA's Retry-After so the callers' backoff
 * respects it.
 */
import type AcmeClient from "acme-client";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Agent } from "node:https";
import { rootCertificates } from "node:tls";
import { join } from "node:path";
import type { CertificatePair } from "../tls/certificates.ts";
import { errorMessage } from "../errors.ts";
import type { ChallengeStore } from "./challenge-store.ts";
import { dnsChallengeName, runDnsHook } from "./dns-hook.ts";

export interface AcmeOrdererOptions {
  directoryUrl: string;
  /** Contact address of the ACME account (may be empty). */
  email: string;
  /** Where the account key is kept (`<dataPath>/acme`, created by the caller). */
  dir: string;
  challenges: ChallengeStore;
  /** Extra CA certificates (PEM) to trust for the ACME server's own HTTPS (a test CA). */
  caPem?: string;
  /** DNS-01 through this command (lib/acme/dns-hook.ts), needed for a wildcard; HTTP-01 otherwise. */
  dnsHook?: string;
}

/**
 * Orders a certificate for `name` (and `altNames`, e.g. its wildcard); rejects with an
 * AcmeOrderError (CA unreachable, failed validation, CA refusal).
 */
export type AcmeOrder = (name: string, altNames?: string[]) => Promise<CertificatePair>;

/** Why an order failed, as far as the caller needs to know. */
export type AcmeFailureKind = "unreachable" | "validation" | "refused";

export class AcmeOrderError extends Error {
  constructor(
    message: string,
    readonly kind: AcmeFailureKind,
    /** The CA asked not to be asked again before this many ms from now (Retry-After, or the "retry after" date of a rate-limit problem). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Retry-After seen per CA origin (epoch ms): rate limits are per account and CA, so every order to that CA waits. */
const retryAfterUntil = new Map<string, number>();
/** The last connection error per CA origin during the current order (acme-client loses it, see below). */
const networkErrors = new Map<string, string>();

type Acme = typeof AcmeClient;
let acmeModule: Promise<Acme> | undefined;

/**
 * acme-client (axios and its crypto under it, ~25 MiB of resident memory) is loaded on
 * the first order, not at start: a server or client that never orders (self-signed or
 * custom certificates, a Let's Encrypt certificate still valid) never pays for it.
 */
function loadAcme(): Promise<Acme> {
  acmeModule ??= import("acme-client").then((m) => {
    const acme = (m as { default?: Acme }).default ?? (m as unknown as Acme);
    installHttpSettings(acme);
    return acme;
  });
  return acmeModule;
}

const originOf = (url: unknown): string | undefined => {
  try {
    return typeof url === "string" ? new URL(url).origin : undefined;
  } catch {
    return undefined;
  }
};

// acme-client retries a refused connection, a 5xx or a 429 inside one request, sleeping
// through the CA's Retry-After (hours, for a rate limit). Our callers have their own retry
// policy (a backoff that honours Retry-After for the renewers, a per-name backoff and an
// hourly budget for on-demand names), so an order fails fast instead: a handshake waiting
// on it is not held by a CA that is down, and a rate limit is not slept through.
// (Set once acme-client is loaded, on the first order.)
function installHttpSettings(acme: Acme) {
  const settings = (acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } }).acmeSettings;
  settings.retryMaxAttempts = 0;
  // Ours runs before acme-client's own response interceptor: when a request got no
  // response at all, that one throws a TypeError that drops the connection error. axios
  // documents `handlers` as public and tolerates a new array.
  const manager = acme.axios.interceptors.response as unknown as { handlers?: unknown[] | null };
  const ours = {
    fulfilled: (response: { config?: { url?: string }; headers?: Record<string, string> }) => {
      noteRetryAfter(response?.config?.url, response?.headers?.["retry-after"]);
      return response;
    },
    rejected: (error: { code?: string; config?: { url?: string }; response?: { headers?: Record<string, string> } }) => {
      noteRetryAfter(error?.config?.url, error?.response?.headers?.["retry-after"]);
      const origin = originOf(error?.config?.url);
      if (origin && !error?.response && error?.code) networkErrors.set(origin, error.code);
      return Promise.reject(error);
    },
    synchronous: false,
    runWhen: null,
  };
  manager.handlers = [ours, ...(manager.handlers ?? [])];
}

function noteRetryAfter(url: unknown, header: unknown): void {
  if (typeof header !== "string" || !header) return;
  const origin = originOf(url);
  const ms = /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : Date.parse(header) - Date.now();
  if (!origin || !Number.isFinite(ms) || ms <= 0) return;
  retryAfterUntil.set(origin, Math.max(retryAfterUntil.get(origin) ?? 0, Date.now() + ms));
}

const DIRECTORY_TIMEOUT_MS = 10_000;

export function createAcmeOrderer(opts: AcmeOrdererOptions): AcmeOrder {
  // acme-client sends every request through one shared axios instance; the CA is added to
  // the public roots, not put in their place (installed before each order of this orderer).
  const agent = opts.caPem ? new Agent({ ca: [...rootCertificates, opts.caPem] }) : undefined;
  const accountKeyPath = join(opts.dir, "account.key");
  const origin = originOf(opts.directoryUrl) ?? opts.directoryUrl;

  const accountKey = async (acme: Acme): Promise<Buffer> => {
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

  // acme-client loses the cause of a network failure (it ends in a TypeError), so
  // reachability is checked first, with an error a person can act on.
  const tls = opts.caPem ? { ca: [...rootCertificates, opts.caPem] } : undefined;
  const checkReachable = async () => {
    try {
      await fetch(opts.directoryUrl, { tls, signal: AbortSignal.timeout(DIRECTORY_TIMEOUT_MS) } as RequestInit);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new AcmeOrderError(`cannot reach the ACME server at ${opts.directoryUrl}: ${code ?? errorMessage(err)}`, "unreachable", retryAfterFor(origin, new Date()));
    }
  };

  const dnsHook = opts.dnsHook;
  return async (name, altNames = []) => {
    await checkReachable();
    const acme = await loadAcme();
    if (agent) acme.axios.defaults.httpsAgent = agent;
    networkErrors.delete(origin);
    let phase: AcmeOrderPhase = "account";
    try {
      const client = new acme.Client({ directoryUrl: opts.directoryUrl, accountKey: await accountKey(acme), backoffMin: 500, backoffMax: 5_000 });
      const [key, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name, ...altNames] }, await acme.crypto.createPrivateEcdsaKey());
      const certPem = await client.auto({
        csr,
        email: opts.email || undefined,
        termsOfServiceAgreed: true,
        challengePriority: dnsHook ? ["dns-01"] : ["http-01"],
        // The CA validates anyway; a self-check would need this host to resolve its own
        // public name, which it often cannot (NAT, split DNS).
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type === "dns-01") await runDnsHook(dnsHook!, "present", dnsChallengeName(authz.identifier.value), keyAuthorization);
          else opts.challenges.set(challenge.token, keyAuthorization);
          phase = "validation";
        },
        challengeRemoveFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type === "dns-01") await runDnsHook(dnsHook!, "cleanup", dnsChallengeName(authz.identifier.value), keyAuthorization);
          else opts.challenges.delete(challenge.token);
        },
      });
      return { certPem, keyPem: key.toString() };
    } catch (err) {
      throw describeAcmeFailure(err, opts.directoryUrl, name, phase, new Date(), dnsHook ? "dns-01" : "http-01");
    }
  };
}

/** Where an order was when it failed: before any challenge, or while the CA validated one. */
export type AcmeOrderPhase = "account" | "validation";

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED", "EPIPE", "ConnectionRefused", "FailedToOpenSocket"]);

function retryAfterFor(origin: string, now: Date, detail = ""): number | undefined {
  const ms = Math.max((retryAfterUntil.get(origin) ?? 0) - now.getTime(), retryAfterFromDetail(detail, now));
  return ms > 0 ? ms : undefined;
}

/** The one-line reason of a failed order, and how long the CA asked us to wait. */
export function describeAcmeFailure(err: unknown, directoryUrl: string, name: string, phase: AcmeOrderPhase, now: Date, challenge: "http-01" | "dns-01" = "http-01"): AcmeOrderError {
  if (err instanceof AcmeOrderError) return err;
  const e = err as { code?: string; response?: unknown; isAxiosError?: boolean };
  const detail = errorMessage(err).replace(/\s+/g, " ").trim();
  const origin = originOf(directoryUrl) ?? directoryUrl;
  const retryAfterMs = retryAfterFor(origin, now, detail);
  const networkCode = e.code && NETWORK_CODES.has(e.code) ? e.code : e.isAxiosError && !e.response ? (e.code ?? detail) : networkErrors.get(origin);
  if (networkCode) return new AcmeOrderError(`cannot reach the ACME server at ${directoryUrl}: ${networkCode}`, "unreachable", retryAfterMs);
  if (phase === "validation" && challenge === "dns-01") {
    return new AcmeOrderError(`the CA could not validate ${name} over DNS-01 (did acme.dnsHook publish the TXT record where the CA looks?): ${detail}`, "validation", retryAfterMs);
  }
  if (phase === "validation") {
    return new AcmeOrderError(`the CA could not validate ${name} over HTTP-01 (does its DNS point at the server, and is the server's HTTP port reachable as port 80?): ${detail}`, "validation", retryAfterMs);
  }
  return new AcmeOrderError(`the CA refused the order for ${name}: ${detail}`, "refused", retryAfterMs);
}

/** Let's Encrypt's rate-limit problems say "retry after 2026-01-01 00:00:00 UTC". */
function retryAfterFromDetail(detail: string, now: Date): number {
  const m = detail.match(/retry after (\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})/i);
  if (!m) return 0;
  const at = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isFinite(at) ? at - now.getTime() : 0;
}

/**
 * The wait before retrying a failed order: exponential from `minMs`, capped at `maxMs`,
 * never shorter than what the CA asked for (a Retry-After may exceed the cap).
 */
export function acmeRetryDelay(failures: number, minMs: number, maxMs: number, retryAfterMs = 0): number {
  const exponential = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.max(exponential, retryAfterMs);
}
