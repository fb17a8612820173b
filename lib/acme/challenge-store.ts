/**
 * HTTP-01 challenge responses (RFC 8555 section 8.3) the ACME renewer publishes and
 * the web server answers at `/.well-known/acme-challenge/<token>`. In memory only: a
 * challenge lives for the minute an order takes.
 */
export interface ChallengeStore {
  /** The key authorization to answer for `token`, if a challenge is pending. */
  get(token: string): string | undefined;
  set(token: string, keyAuthorization: string): void;
  delete(token: string): void;
}

export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

export function createChallengeStore(): ChallengeStore {
  const pending = new Map<string, string>();
  return {
    get: (token) => pending.get(token),
    set: (token, keyAuthorization) => void pending.set(token, keyAuthorization),
    delete: (token) => void pending.delete(token),
  };
}
