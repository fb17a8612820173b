import { createHash, timingSafeEqual } from "node:crypto";

/** Constant-time string comparison. Digests have equal lengths, so timingSafeEqual also hides the length of `b`. */
export function sameSecret(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}
