// The client API's URL paths on the server's own domain, shared by both sides.
/** Paths of the client API and the tunnel WebSocket endpoints on the server domain. */
export const CLIENT_API_BASE = "/api/client/v1";
export const TUNNEL_CONTROL_PATH = `${CLIENT_API_BASE}/tunnel`;
export const TUNNEL_DATA_PATH = `${CLIENT_API_BASE}/tunnel/data`;
