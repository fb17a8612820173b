import { randomBytes } from "node:crypto";

/** A 32-lowercase-hex identifier (SPEC 2.2). */
export function newId(): string {
  return randomBytes(16).toString("hex");
}

export function isId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}

/** A secret token value: 48 hex characters, 192 bits from the CSPRNG. */
export function newTokenValue(): string {
  return randomBytes(24).toString("hex");
}
