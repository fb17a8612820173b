/**
 * DNS host names as they arrive in a TLS SNI extension or an HTTP Host header.
 *
 * Rules (RFC 1123 / RFC 6066 §3, kept a little lenient like the browsers): ASCII
 * letters, digits, `-` and `_` in labels of 1–63 characters, at most 253
 * characters in all. One trailing dot (the absolute form) is dropped. Names are
 * compared lowercased, so that is the form returned.
 */

// 1 = allowed in a label; a lookup table keeps the check to one array read per char.
const LABEL_CHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) LABEL_CHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) LABEL_CHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) LABEL_CHAR[c] = 1;
LABEL_CHAR[0x2d] = 1; // -
LABEL_CHAR[0x5f] = 1; // _

/** The lowercased name without a trailing dot, or null when it is not a valid host name. */
export function normalizeHostname(name: string): string | null {
  let end = name.length;
  if (end > 0 && name.charCodeAt(end - 1) === 0x2e) end--;
  if (end === 0 || end > 253) return null;
  let labelLen = 0;
  let upper = false;
  for (let i = 0; i < end; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (labelLen === 0) return null;
      labelLen = 0;
      continue;
    }
    if (c >= 128 || LABEL_CHAR[c] === 0) return null;
    if (++labelLen > 63) return null;
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (labelLen === 0) return null;
  const out = end === name.length ? name : name.slice(0, end);
  return upper ? out.toLowerCase() : out;
}

/**
 * Whether a certificate name (`example.com` or `*.example.com`) covers `hostname`.
 * Both must already be lowercase. A wildcard stands for exactly one whole leftmost
 * label (RFC 6125 §6.4.3): `*.example.com` covers `a.example.com`, not
 * `example.com` and not `a.b.example.com`. Partial-label wildcards (`a*.example.com`)
 * are not honoured.
 */
export function nameCovers(certName: string, hostname: string): boolean {
  if (certName.length > 2 && certName.charCodeAt(0) === 0x2a && certName.charCodeAt(1) === 0x2e) {
    const dot = hostname.indexOf(".");
    if (dot <= 0) return false;
    return hostname.length - dot === certName.length - 1 && hostname.endsWith(certName.slice(1));
  }
  return certName === hostname;
}
