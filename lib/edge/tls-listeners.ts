// The TLS side of the edge, in one place: the certificates the server terminates with
// (in-process at the front door, see tls-termination.ts), the loopback web server that
// gets the front door's decrypted own-domain requests (plain HTTP: TLS is already off),
// and listen.tunnel's public Bun.serve TLS listener. Bun keeps a listener's certificate
// for its lifetime, so a certificate change starts a new listen.tunnel listener; the
// in-process path picks the new certificate up on the next handshake.
import type { Server, WebSocketHandler } from "bun";
import type { CertificatePair } from "../tls/certificates.ts";
import { createSniCertificates, type CertificateSource, type SniCertificates } from "../tls/sni-certificates.ts";
import type { CertificateSelector } from "./tls-termination.ts";

export interface TlsListenersOptions {
  /** The server's own certificate (changes on upload, settings change, ACME renewal). */
  certificates: CertificateSource;
  /** `decrypted`: the request came through the front door (its URL says http:, the visitor used HTTPS). */
  fetch(req: Request, server: Server<unknown>, decrypted: boolean): Response | Promise<Response | undefined> | undefined;
  websocket: WebSocketHandler<any>;
  /** listen.tunnel: the web server on a public port of its own (none when undefined). */
  direct?: { hostname: string; port: number };
}

export interface TlsListeners {
  /** Port of the loopback web server (plain HTTP) behind the front door. */
  readonly webPlainPort: number;
  /** The public listen.tunnel port, if configured. */
  readonly directPort: number | undefined;
  /** Certificates by server name; per-name pairs can be added (`set`) at run time. */
  readonly sni: SniCertificates;
  /** Certificate selection for in-process termination (the seam for on-demand certificates). */
  selectCertificate: CertificateSelector;
  /** Replaces the selection hook (an on-demand certificate source wraps the default one). */
  setCertificateSelector(select: CertificateSelector): void;
  stop(closeActive?: boolean): void;
}

/** Starts the listeners; throws (with nothing left running) when listen.tunnel cannot be opened. */
export function startTlsListeners(opts: TlsListenersOptions): TlsListeners {
  const sni = createSniCertificates(opts.certificates);
  const tlsOf = (pair: CertificatePair) => ({ cert: pair.certPem, key: pair.keyPem });
  const serve = (hostname: string, port: number) =>
    Bun.serve({ hostname, port, tls: tlsOf(opts.certificates.current()), fetch: (req, server) => opts.fetch(req, server, false), websocket: opts.websocket });
  const web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req, server) => opts.fetch(req, server, true), websocket: opts.websocket });
  let direct: Server<unknown> | undefined;
  try {
    direct = opts.direct ? serve(opts.direct.hostname, opts.direct.port) : undefined;
  } catch (err) {
    web.stop(true);
    sni.close();
    throw err;
  }
  const defaultSelector: CertificateSelector = (name) => sni.select(name).secureContext();
  let selector = defaultSelector;
  const unsubscribe = opts.certificates.onChange(() => {
    const oldDirect = direct;
    if (oldDirect && opts.direct) {
      // The public port is needed again right away: the old listener goes first.
      oldDirect.stop(false);
      direct = serve(opts.direct.hostname, opts.direct.port);
    }
  });
  return {
    get webPlainPort() {
      return web.port!;
    },
    get directPort() {
      return direct?.port;
    },
    sni,
    selectCertificate: (name) => selector(name),
    setCertificateSelector(select) {
      selector = select;
    },
    stop(closeActive = true) {
      unsubscribe();
      sni.close();
      web.stop(closeActive);
      direct?.stop(closeActive);
    },
  };
}
