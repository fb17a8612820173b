// Server certificate pins: SHA-256 of the leaf certificate's DER, written `sha256:<hex>`
// (lowercase). Input is accepted with or without the prefix and colons, in either case,
// as copied from `openssl x509 -fingerprint -sha256` or a browser.
import { createHash } from "node:crypto";

/** The 64 lowercase hex digits of a fingerprint, or undefined when it is not one. */
export function normalizeFingerprint(input: string): string | undefined {
  const hex = input
    .trim()
    .replace(/^sha-?256[:=]\s*/i, "")
    .replace(/[:\s]/g, "")
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

export function formatFingerprint(hex: string): string {
  return `sha256:${hex}`;
}

export function certificateFingerprint(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

// A fingerprint is public, so a plain (not constant-time) comparison is fine.
export function fingerprintMatches(pin: string, der: Uint8Array): boolean {
  return normalizeFingerprint(pin) === certificateFingerprint(der);
}
