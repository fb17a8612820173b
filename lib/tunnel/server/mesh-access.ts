// The server's check of a service's mesh access list (grammar in
// lib/client-config/mesh-access.ts): who asks is a tunnel (ports map, a client's SOCKS
// proxy) or a public SOCKS login with that tunnel's auth token; an anonymous public SOCKS
// client (auth "none") is nobody.

/** The tunnel a mesh connection acts for. */
export interface MeshCaller {
  tunnelId: string;
  userId: string | null;
  /** The tunnel user's name (registration `id`), when the tunnel has a user. */
  userName?: string;
}

export interface MeshService {
  /** The tunnel that serves it: it may always reach its own services. */
  ownerId: string;
  private?: boolean;
  meshAllow?: readonly string[];
}

/** Why `caller` may not reach `service`, or undefined when it may. */
export function meshAccessRefusal(service: MeshService, caller: MeshCaller | undefined): string | undefined {
  const list = service.meshAllow ?? [];
  if (!caller) {
    if (service.private) return "a private (mesh-only) service needs a tunnel or an auth token";
    return list.length ? "the service has a mesh access list and the caller has no auth token" : undefined;
  }
  if (!list.length || caller.tunnelId === service.ownerId) return undefined;
  const userName = caller.userName?.toLowerCase();
  for (const entry of list) {
    const i = entry.indexOf(":");
    const kind = entry.slice(0, i);
    const value = entry.slice(i + 1);
    if (kind === "tunnel" && value.toLowerCase() === caller.tunnelId) return undefined;
    if (kind === "user" && ((caller.userId && value.toLowerCase() === caller.userId) || (userName && value.toLowerCase() === userName))) return undefined;
  }
  return `tunnel ${caller.tunnelId}${caller.userName ? ` (user ${caller.userName})` : ""} is not in the service's mesh access list`;
}
