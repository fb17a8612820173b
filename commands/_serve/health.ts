// GET /healthz (no auth, for load balancers): 200 when the process answers, the database
// answers a real read (and, for a file, is still the file at the configured path) and the
// public listeners are bound; 503 with the reason otherwise.
import { errorMessage } from "../../lib/errors.ts";

export interface HealthSources {
  /** Throws when the database cannot answer. */
  database(): Promise<void>;
  /** Names of required listeners that are not bound (empty when all are). */
  unboundListeners(): string[];
}

const CHECK_TIMEOUT_MS = 3000;

export async function healthResponse(sources: HealthSources): Promise<Response> {
  let database = "ok";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([sources.database(), timeout]);
  } catch (err) {
    database = errorMessage(err);
  } finally {
    clearTimeout(timer);
  }
  const unbound = sources.unboundListeners();
  const listeners = unbound.length ? `not bound: ${unbound.join(", ")}` : "ok";
  const ok = database === "ok" && listeners === "ok";
  return Response.json({ status: ok ? "ok" : "unavailable", database, listeners }, { status: ok ? 200 : 503, headers: { "cache-control": "no-store" } });
}
