// SPEC 2.3 "Registration": a registration token buys an auth token (and its tunnel).
import { randomBytes } from "node:crypto";
import type { Db } from "./_shared.ts";
import { createAuthToken } from "./auth-tokens.ts";
import { findActiveRegistrationToken } from "./registration-tokens.ts";
import { findOrCreateTunnelUser } from "./users.ts";

export interface RegistrationRequest {
  registrationToken: string;
  /** Names the tunnel user that groups tunnels (created on first use). */
  userName?: string;
  hostname?: string;
}

export type RegistrationResult =
  | { ok: true; key: string; tunnelId: string; hostname: string }
  | { ok: false; reason: string };

export async function registerTunnel(
  db: Db,
  req: RegistrationRequest,
  opts: { autoHostnames: boolean; domain: string },
): Promise<RegistrationResult> {
  const reg = await findActiveRegistrationToken(db, req.registrationToken);
  if (!reg) return { ok: false, reason: "unknown or inactive registration token" };
  const user = req.userName?.trim() ? await findOrCreateTunnelUser(db, req.userName.trim()) : null;
  let hostname = req.hostname?.trim().toLowerCase() ?? "";
  if (!hostname && opts.autoHostnames) hostname = `${randomBytes(6).toString("hex")}.${opts.domain}`;
  const { token, tunnel } = await createAuthToken(db, { hostname, userId: user?.id ?? null, description: reg.description });
  return { ok: true, key: token.value, tunnelId: tunnel.id, hostname };
}
