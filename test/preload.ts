// Isolates every test run from the machine: no inherited first-run or config variables.
// Also guarantees no process a test started outlives the run (see cleanupTracked).
import { afterAll } from "bun:test";
import { cleanupTracked } from "./helpers.ts";

for (const k of ["DOMAIN", "ADMIN_SECRET", "SPOKES_CONFIG", "PKTRIOT_CONFIG", "SPOKES_DEBUG"]) delete process.env[k];
process.env.TZ = "UTC";

afterAll(cleanupTracked);
process.on("exit", cleanupTracked);
