// Values stored in coded columns, shared by both engines' schemas.

/** Where a user came from: the admin CLI, the first-run dashboard setup, or a tunnel registration `id`. */
export const USER_ORIGIN = {
  adminCli: "Admin CLI",
  dashboardSetup: "Dashboard Setup",
  tunnelRegistration: "Tunnel Registration",
} as const;
export type UserOrigin = (typeof USER_ORIGIN)[keyof typeof USER_ORIGIN];

/** TOTP state: off; enabled but the user has not scanned a secret yet; enrolled. */
export const TOTP_STATE = { disabled: 0, pendingSetup: 1, enabled: 2 } as const;

/** SPEC 2.3: 1 Init, 2 Online, 3 Offline, 4 Shutdown, 5 Deleted. */
export const TUNNEL_STATE = { init: 1, online: 2, offline: 3, shutdown: 4, deleted: 5 } as const;
export type TunnelState = (typeof TUNNEL_STATE)[keyof typeof TUNNEL_STATE];
/** The state names the CLI prints. */
export const TUNNEL_STATE_NAME: Record<number, string> = { 1: "Init", 2: "Online", 3: "Offline", 4: "Shutdown", 5: "Deleted" };
