/**
 * The server's own raw HTTP/1.1 responses, written straight onto a public socket
 * (the tunnelled traffic does not go through Bun.serve). Each is complete: status
 * line, `Content-Type`, exact `Content-Length`, `Connection: close` (the caller
 * closes the connection after writing), and a small HTML page.
 */

const STATUS_TEXT: Record<number, string> = {
  301: "Moved Permanently",
  302: "Found",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? "Unknown";
}

export interface RawResponseOptions {
  /** Extra header lines, in order. Values must not contain CR or LF (checked). */
  headers?: [string, string][];
  /** Body text (UTF-8); defaults to none. */
  body?: string;
  contentType?: string;
  /** Answering a HEAD request: headers (with the body's length) but no body. */
  head?: boolean;
}

const encoder = new TextEncoder();

/** Any raw response; the specific builders below are built on it. */
export function rawResponse(status: number, opts: RawResponseOptions = {}): Uint8Array {
  const body = opts.body === undefined ? new Uint8Array(0) : encoder.encode(opts.body);
  let head = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
  if (opts.body !== undefined) head += `Content-Type: ${opts.contentType ?? "text/html; charset=utf-8"}\r\n`;
  head += `Content-Length: ${body.length}\r\n`;
  for (const [name, value] of opts.headers ?? []) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`header ${JSON.stringify(name)} contains a line break`);
    head += `${name}: ${value}\r\n`;
  }
  head += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  const headBytes = encoder.encode(head);
  if (opts.head || body.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A small self-contained page: title, one message, no external assets. */
export function htmlPage(status: number, message: string): string {
  const title = `${status} ${statusText(status)}`;
  return (
    `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
    `<title>${title}</title><style>body{font-family:system-ui,sans-serif;margin:4em auto;max-width:36em;color:#333}` +
    `h1{font-size:1.4em}</style></head><body><h1>${title}</h1><p>${escapeHtml(message)}</p></body></html>\n`
  );
}

function page(status: number, message: string, head?: boolean, headers?: [string, string][]): Uint8Array {
  return rawResponse(status, { body: htmlPage(status, message), head, headers });
}

export interface PageOptions {
  /** The request was HEAD: send the headers only. */
  head?: boolean;
}

/** No tunnel (and not the server itself) answers for this host. */
export function notFoundResponse(host: string | null, opts: PageOptions = {}): Uint8Array {
  return page(404, host ? `No tunnel is serving ${host}.` : "No site is served at this address.", opts.head);
}

/**
 * The host belongs to a tunnel that cannot take the request: 502 when the tunnel is
 * offline or its upstream refused, 503 when it is shut down or over capacity.
 */
export function tunnelOfflineResponse(host: string | null, status: 502 | 503 = 502, opts: PageOptions = {}): Uint8Array {
  const what = host ?? "this site";
  const msg = status === 503 ? `The tunnel for ${what} is not available right now.` : `The tunnel for ${what} is offline.`;
  return page(status, msg, opts.head, status === 503 ? [["Retry-After", "30"]] : undefined);
}

export function badRequestResponse(message = "The request could not be understood.", opts: PageOptions = {}): Uint8Array {
  return page(400, message, opts.head);
}

export function headerTooLargeResponse(opts: PageOptions = {}): Uint8Array {
  return page(431, "The request headers are too large.", opts.head);
}

export function forbiddenResponse(opts: PageOptions = {}): Uint8Array {
  return page(403, "Access to this site is not allowed from your address.", opts.head);
}

/**
 * A redirect; `location` must be an absolute URL or path without line breaks.
 * 301 by default (HTTP→HTTPS); 308 keeps the method and body.
 */
export function redirectResponse(location: string, status: 301 | 302 | 307 | 308 = 301, opts: PageOptions = {}): Uint8Array {
  return rawResponse(status, {
    headers: [["Location", location]],
    body: htmlPage(status, `This page has moved to ${location}`),
    head: opts.head,
  });
}

/**
 * The HTTPS URL for a request received on the plain HTTP port. `httpsPort` is left
 * out of the URL when it is 443; `target` is the request target (origin-form).
 */
export function httpsUrl(hostname: string, target: string, httpsPort = 443): string {
  const path = target.startsWith("/") ? target : "/";
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `https://${host}${httpsPort === 443 ? "" : `:${httpsPort}`}${path}`;
}

/** 301 to the same host and path on HTTPS. */
export function httpsRedirectResponse(hostname: string, target: string, httpsPort = 443, opts: PageOptions = {}): Uint8Array {
  return redirectResponse(httpsUrl(hostname, target, httpsPort), 301, opts);
}

/** 401 asking for Basic credentials (RFC 7617), realm quoted and escaped. */
export function unauthorizedResponse(realm: string, opts: PageOptions = {}): Uint8Array {
  const quoted = realm.replace(/[\\"]/g, "\\$&").replace(/[\r\n]/g, " ");
  return page(401, "This site requires a user name and password.", opts.head, [["WWW-Authenticate", `Basic realm="${quoted}", charset="UTF-8"`]]);
}

export function errorResponse(status: number, message: string, opts: PageOptions = {}): Uint8Array {
  return page(status, message, opts.head);
}
