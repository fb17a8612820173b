/**
 * The certificates a terminating TLS listener presents, chosen per server name and
 * swappable at run time (dashboard upload, Let's Encrypt renewal) without restarting
 * the listener.
 *
 * `Bun.listen`/`Bun.serve` cannot change certificates once started (see
 * NOTES-stack "TLS"), so the terminating listener is node:tls
 * `createServer(certs.tlsServerOptions())`, which asks `sniCallback` on every
 * handshake that carries a server name (the answer is a SecureContext built once per
 * certificate and reused). A handshake without SNI never reaches the callback and
 * gets the server's own context: `attach(server)` keeps that one current with
 * `server.setSecureContext`.
 *
 * The seam for ACME is `CertificateSource`: anything that knows the current pair
 * and says when it changes (a file, the ACME renewer) plugs in as the default.
 */
import { X509Certificate } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import { certificateNames, namesCover, sha256Fingerprint, type CertificatePair } from "./certificates.ts";
import { normalizeSniHostname } from "../net/hostname.ts";

export interface CertificateSource {
  /** The pair to serve now. */
  current(): CertificatePair;
  /** Calls `cb` after the pair changed; returns a function that stops the calls. */
  onChange(cb: (pair: CertificatePair) => void): () => void;
}

/** A CertificateSource whose pair is replaced with `set` (static files, uploads; an ACME renewer can wrap one). */
export interface MutableCertificateSource extends CertificateSource {
  set(pair: CertificatePair): void;
}

export function createCertificateSource(initial: CertificatePair): MutableCertificateSource {
  let pair = initial;
  const listeners = new Set<(p: CertificatePair) => void>();
  return {
    current: () => pair,
    onChange(cb) {
      listeners.add(cb);
      return () => void listeners.delete(cb);
    },
    set(next) {
      pair = next;
      for (const cb of [...listeners]) cb(next);
    },
  };
}

/** A certificate ready to serve: its pair, the names it covers, and a lazily built SecureContext. */
export interface CertificateEntry extends CertificatePair {
  names: string[];
  notAfter: Date;
  fingerprint: string;
  secureContext(): SecureContext;
}

export interface SniCertificates {
  /** The server's own certificate (served for its domain, for names without their own, and without SNI). */
  defaultEntry(): CertificateEntry;
  /** Serves `pair` for `name` (`app.example.com` or `*.example.com`), replacing any previous one. */
  set(name: string, pair: CertificatePair): void;
  delete(name: string): boolean;
  /** Entry for a handshake: the exact name, then the wildcard one label up, then the default. */
  select(serverName: string | null | undefined): CertificateEntry;
  /** Whether the certificate `select(hostname)` gives covers `hostname`, i.e. the server can terminate it. */
  covers(hostname: string): boolean;
  /** Options for node:tls `createServer`: the default pair (for handshakes without SNI) and `SNICallback`. */
  tlsServerOptions(): { cert: string; key: string; SNICallback: SniCertificates["sniCallback"] };
  /** Keeps a node:tls server's own (no-SNI) certificate in step with the default source; returns a detach function. */
  attach(server: { setSecureContext(options: { cert: string; key: string }): void }): () => void;
  /** node:tls `SNICallback`. */
  sniCallback(serverName: string, cb: (err: Error | null, ctx?: SecureContext) => void): void;
  /** Calls `cb` when the default or a per-name certificate changed; returns an unsubscribe function. */
  onChange(cb: () => void): () => void;
  /** Stops following the default source. */
  close(): void;
}

/** Parses a pair once into an entry (throws on a certificate that does not parse). */
export function createCertificateEntry(pair: CertificatePair): CertificateEntry {
  const names = certificateNames(pair.certPem);
  const leaf = new X509Certificate(pair.certPem);
  let ctx: SecureContext | undefined;
  return {
    certPem: pair.certPem,
    keyPem: pair.keyPem,
    names,
    notAfter: leaf.validToDate,
    fingerprint: sha256Fingerprint(leaf.raw),
    secureContext: () => (ctx ??= createSecureContext({ cert: pair.certPem, key: pair.keyPem })),
  };
}

export function createSniCertificates(defaultSource: CertificateSource): SniCertificates {
  let fallback = createCertificateEntry(defaultSource.current());
  const byName = new Map<string, CertificateEntry>();
  const listeners = new Set<() => void>();
  const servers = new Set<{ setSecureContext(options: { cert: string; key: string }): void }>();
  const changed = () => {
    for (const cb of [...listeners]) cb();
  };
  const unsubscribe = defaultSource.onChange((pair) => {
    fallback = createCertificateEntry(pair);
    for (const server of servers) server.setSecureContext({ cert: pair.certPem, key: pair.keyPem });
    changed();
  });

  function keyOf(name: string): string {
    const wildcard = name.startsWith("*.");
    const host = normalizeSniHostname(wildcard ? name.slice(2) : name);
    if (host === null) throw new Error(`invalid certificate name "${name}"`);
    return wildcard ? `*.${host}` : host;
  }

  function select(serverName: string | null | undefined): CertificateEntry {
    if (!serverName || byName.size === 0) return fallback;
    const host = normalizeSniHostname(serverName);
    if (host === null) return fallback;
    const exact = byName.get(host);
    if (exact) return exact;
    const dot = host.indexOf(".");
    if (dot > 0) {
      const wild = byName.get(`*${host.slice(dot)}`);
      if (wild) return wild;
    }
    return fallback;
  }

  function sniCallback(serverName: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
    try {
      cb(null, select(serverName).secureContext());
    } catch (err) {
      cb(err as Error);
    }
  }

  return {
    defaultEntry: () => fallback,
    set(name, pair) {
      byName.set(keyOf(name), createCertificateEntry(pair));
      changed();
    },
    delete(name) {
      const had = byName.delete(keyOf(name));
      if (had) changed();
      return had;
    },
    select,
    covers(hostname) {
      const host = normalizeSniHostname(hostname);
      return host !== null && namesCover(select(host).names, host);
    },
    tlsServerOptions() {
      return { cert: fallback.certPem, key: fallback.keyPem, SNICallback: sniCallback };
    },
    attach(server) {
      servers.add(server);
      return () => void servers.delete(server);
    },
    sniCallback,
    onChange(cb) {
      listeners.add(cb);
      return () => void listeners.delete(cb);
    },
    close() {
      unsubscribe();
      listeners.clear();
      servers.clear();
    },
  };
}
