// The tables every query uses. Queries are written once against these bindings (drizzle's
// query builder builds the engine's SQL from the database object it runs on); openDatabase
// points the bindings at the engine's own table objects — db/schema/sqlite.ts or
// db/schema/pg.ts — before any query runs, so one process uses one engine at a time.
// Code must therefore read a table or column when it runs, never keep one in a module-level
// constant. The static types are SQLite's; the check at the bottom keeps the two schemas'
// row types identical, which is what makes that sound.
import * as pg from "./schema/pg.ts";
import * as sqlite from "./schema/sqlite.ts";

export * from "./schema/values.ts";

export type Engine = "sqlite" | "postgres";
type Tables = typeof sqlite;

export let users = sqlite.users;
export let registrationTokens = sqlite.registrationTokens;
export let apikeys = sqlite.apikeys;
export let adminApiKeys = sqlite.adminApiKeys;
export let tunnels = sqlite.tunnels;
export let ports = sqlite.ports;
export let httpServices = sqlite.httpServices;
export let bandwidthDaily = sqlite.bandwidthDaily;
export let connections = sqlite.connections;
export let settings = sqlite.settings;
export let sessions = sqlite.sessions;
export let serverHeartbeats = sqlite.serverHeartbeats;
export let tunnelLocations = sqlite.tunnelLocations;
export let apiPages = sqlite.apiPages;

/** The engine's table objects (what drizzle is given as its schema). */
export function engineTables(engine: Engine): Tables {
  return engine === "postgres" ? (pg as unknown as Tables) : sqlite;
}

/** Points the exported tables at `engine`'s; db/client.ts calls it when it opens a database. */
export function useEngineTables(engine: Engine): void {
  const t = engineTables(engine);
  ({ users, registrationTokens, apikeys, adminApiKeys, tunnels, ports, httpServices, bandwidthDaily, connections, settings, sessions, serverHeartbeats, tunnelLocations, apiPages } = t);
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Mismatched = {
  [K in keyof Tables]: K extends keyof typeof pg ? (Same<Tables[K]["$inferSelect"], (typeof pg)[K]["$inferSelect"]> extends true ? never : K) : K;
}[keyof Tables];
/** Fails to compile, naming the table, when the two schemas' rows differ. */
const schemasAgree: [Mismatched] extends [never] ? true : Mismatched = true;
void schemasAgree;
