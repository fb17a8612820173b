// What can go wrong talking to the server, each as one line for the terminal.
import { UserError } from "../errors.ts";
import { formatFingerprint } from "./fingerprint.ts";

/** The server answered and said no (`{"status": false, "error": "..."}` or a bare HTTP error). */
export class ServerRefusedError extends UserError {
  constructor(
    readonly reason: string,
    readonly httpStatus: number,
  ) {
    super(`server refused: ${reason}`);
  }
}

/** No answer: refused connection, unknown host, timeout, not TLS. */
export class ServerUnreachableError extends UserError {
  constructor(
    readonly hostPort: string,
    readonly reason: string,
  ) {
    super(`cannot reach server ${hostPort}: ${reason}`);
  }
}

/** The server's certificate did not verify under the configured trust. */
export class UntrustedCertificateError extends UserError {
  constructor(
    readonly hostPort: string,
    readonly reason: string,
    readonly code: string,
  ) {
    super(`the certificate of server ${hostPort} is not trusted: ${reason}`);
  }
}

export class PinMismatchError extends UserError {
  constructor(
    readonly hostPort: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`the certificate of server ${hostPort} does not match the pinned fingerprint (expected ${formatFingerprint(expected)}, got ${formatFingerprint(actual)})`);
  }
}

/** OpenSSL/BoringSSL verification codes and Node's name-check code: a trust problem, not a network one. */
export function isCertificateErrorCode(code: string | undefined): boolean {
  return !!code && (/CERT|SELF_SIGNED|SIGNATURE|ISSUER/.test(code) || code === "ERR_TLS_CERT_ALTNAME_INVALID");
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed (temporary DNS failure)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNRESET: "connection reset (is this the server's HTTPS port?)",
  EPROTO: "TLS handshake failed (is this the server's HTTPS port?)",
  ERR_SSL_WRONG_VERSION_NUMBER: "TLS handshake failed (is this the server's HTTPS port?)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in the chain",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unable to verify the certificate's issuer",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unknown certificate issuer",
  CERT_HAS_EXPIRED: "certificate expired",
  CERT_NOT_YET_VALID: "certificate not yet valid",
  ERR_TLS_CERT_ALTNAME_INVALID: "certificate does not name this host",
};

/** Maps an error thrown by fetch() or node:tls to one of the errors above. */
export function classifyConnectError(err: unknown, hostPort: string, timeoutMs: number): UserError {
  if (err instanceof UserError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return new ServerUnreachableError(hostPort, `no answer within ${Math.round(timeoutMs / 1000)}s`);
  const code = e?.code;
  const reason = (code && REASONS[code]) || e?.message?.split("\n")[0] || String(err);
  if (isCertificateErrorCode(code)) return new UntrustedCertificateError(hostPort, reason, code!);
  return new ServerUnreachableError(hostPort, reason);
}
