export * from "./errors.ts";
export * from "./transport.ts";
export * from "./stream.ts";
export * from "./session.ts";
export * from "./pool.ts";
