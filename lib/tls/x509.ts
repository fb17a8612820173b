/**
 * @peculiar/x509, loaded after the Reflect metadata shim it needs. A static
 * `import` would not do: Bun evaluates a CommonJS dependency (x509's "main" build)
 * while linking, before any ES module body (the shim included) has run, so the
 * package is pulled in with `require` from this module's body instead.
 */
import "./reflect-metadata.ts";

type X509Module = typeof import("@peculiar/x509");

export const x509: X509Module = require("@peculiar/x509");
x509.cryptoProvider.set(crypto);
