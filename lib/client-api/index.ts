// The pktriot client's HTTPS calls to the server, with certificate checking (public
// trust, a CA file, a pinned fingerprint, or --insecure).
export { createClientApi, API_PREFIX, type ClientApi, type ClientApiOptions, type RegisterRequest, type RegisterResult, type AuthResult, type TunnelStatus } from "./client.ts";
export { parseServerHost, parseServerHosts, configuredServers, DEFAULT_SERVER_PORT, type ServerAddress } from "./server-host.ts";
export { normalizeFingerprint, formatFingerprint, certificateFingerprint, fingerprintMatches } from "./fingerprint.ts";
export { fetchPeerCertificate, type PeerCertificate } from "./peer-certificate.ts";
export { trustFromConfig, pinTrust, readServerCa, fetchTlsOptions, INSECURE_WARNING, type ServerTrust, type FetchTls } from "./trust.ts";
export { ServerRefusedError, ServerUnreachableError, UntrustedCertificateError, PinMismatchError, classifyConnectError, isCertificateErrorCode } from "./errors.ts";
