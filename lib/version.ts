declare const SPOKES_BUILD_VERSION: string | undefined;

/** Set by scripts/build.ts through `define`; "dev" when run from source. */
export const VERSION: string = typeof SPOKES_BUILD_VERSION === "string" ? SPOKES_BUILD_VERSION : "0.1.0-dev";
