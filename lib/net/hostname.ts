/**
 * Host name grammar, in the three variants the server needs. They differ on purpose:
 *
 * - `normalizeSniHostname`: names as they arrive from visitors, in a TLS SNI extension or
 *   an HTTP Host header (RFC 1123 / RFC 6066 §3, kept a little lenient like the
 *   browsers): letters, digits, `-` and `_` anywhere in labels of 1–63 characters. It
 *   runs on every connection, so it is a table lookup per character.
 * - `normalizeDnsHostname`: names a SOCKS client or an allow-list entry asks us to
 *   resolve: LDH plus `_`, but no label starts or ends with `-`, and a name whose last
 *   label is all digits is refused (no TLD is numeric, RFC 3696 §2), so "10.0.0.256" is a
 *   mistyped address, not a host to look up.
 * - `isHostname`: names an operator configures (the server's domain, a tunnel's
 *   hostname, a rule's domain): strict RFC 1123 LDH, no `_`, no trailing dot; case is
 *   accepted as typed.
 *
 * Both normalisers drop one trailing dot (the absolute form) and lowercase, the form
 * names are compared in (RFC 4343); they return null for a name that is not valid.
 */

// 1 = allowed in an SNI label; a lookup table keeps the check to one array read per char.
const SNI_LABEL_CHAR = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) SNI_LABEL_CHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) SNI_LABEL_CHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) SNI_LABEL_CHAR[c] = 1;
SNI_LABEL_CHAR[0x2d] = 1; // -
SNI_LABEL_CHAR[0x5f] = 1; // _

/** An SNI or Host header name, lowercased and without a trailing dot; null when invalid. */
export function normalizeSniHostname(name: string): string | null {
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
    if (c >= 128 || SNI_LABEL_CHAR[c] === 0) return null;
    if (++labelLen > 63) return null;
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (labelLen === 0) return null;
  const out = end === name.length ? name : name.slice(0, end);
  return upper ? out.toLowerCase() : out;
}

const DNS_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A name to resolve (SOCKS destination, allow-list entry), lowercased and without a trailing dot; null when invalid. */
export function normalizeDnsHostname(name: string): string | null {
  let h = name.toLowerCase();
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (h.length === 0 || h.length > 253) return null;
  const labels = h.split(".");
  if (!labels.every((l) => DNS_LABEL.test(l))) return null;
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return null;
  return h;
}

const CONFIG_HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Whether an operator-configured name is a valid RFC 1123 host name. */
export function isHostname(value: string): boolean {
  return CONFIG_HOSTNAME.test(value);
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
