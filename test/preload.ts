// Isolates every test run from the machine: no inherited first-run or config variables.
// Also guarantees no process a test started outlives the run (see cleanupTracked).
import { afterAll } from "bun:test";
import { cleanupTracked } from "./helpers.ts";
import { stopAllPostgres } from "./postgres-cluster.ts";

for (const k of ["DOMAIN", "ADMIN_SECRET", "SPOKES_CONFIG", "PKTRIOT_CONFIG", "SPOKES_DEBUG"]) delete process.env[k];
process.env.TZ = "UTC";

// A private PostgreSQL cluster is shared by the files of one run: stopped once, at the end
// (an "exit" handler alone did not run under bun test and left postmasters behind).
const atRunEnd = () => {
  cleanupTracked();
  stopAllPostgres();
};
afterAll(atRunEnd);
process.on("exit", atRunEnd);
