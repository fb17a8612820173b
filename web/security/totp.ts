// TOTP (RFC 6238) as authenticator apps expect it: SHA1, 6 digits, 30 s.
import * as OTPAuth from "otpauth";
import { renderSVG } from "uqr";

export const TOTP_ISSUER = "Spokes";

export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32;
}

function totp(secret: string, label: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer: TOTP_ISSUER, label, algorithm: "SHA1", digits: 6, period: 30, secret: OTPAuth.Secret.fromBase32(secret) });
}

export function totpUri(secret: string, label: string): string {
  return totp(secret, label).toString();
}

export function totpQrSvg(uri: string): string {
  return renderSVG(uri, { border: 2 }).replace("<svg ", '<svg class="qr" role="img" aria-label="QR code" ');
}

/**
 * The time step a passcode belongs to (±1 step for clock skew), or null when wrong.
 * The caller refuses a step it already accepted, so a passcode cannot be replayed.
 */
export function totpStep(secret: string, code: string, now = Date.now()): number | null {
  const token = code.replace(/\s+/g, "");
  if (!/^\d{6}$/.test(token) || !secret) return null;
  const delta = totp(secret, "x").validate({ token, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 30_000) + delta;
}
