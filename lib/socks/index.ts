/** SOCKS5 engine: pure protocol, handshake state machine, relay, listener, destination policy. */
export * from "./protocol.ts";
export * from "./handshake.ts";
export * from "./server.ts";
export * from "./listener.ts";
export * from "./allow-list.ts";
export * from "./resolve.ts";
export * from "./dialer.ts";
export * from "./failure-limiter.ts";
