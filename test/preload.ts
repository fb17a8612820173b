// Isolates every test run from the machine: no inherited first-run or config variables.
for (const k of ["DOMAIN", "ADMIN_SECRET", "SPOKES_CONFIG", "PKTRIOT_CONFIG", "SPOKES_DEBUG"]) delete process.env[k];
process.env.TZ = "UTC";
