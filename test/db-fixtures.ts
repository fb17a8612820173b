// Rows inserted straight into the database, for states the admin CLI cannot create by
// itself (online tunnels, allocated ports, traffic, server heartbeats). Used by the unit
// tests (in-memory database) and the e2e tests (the sqlite file the executable uses).
// With SPOKES_TEST_DB=postgres (the second pass of scripts/run-tests.ts) memoryDb() gives
// each test a fresh database in a private PostgreSQL cluster instead.
import { afterEach } from "bun:test";
import { openDatabase, type Database, type OpenDatabase } from "../db/client.ts";
import { newId, newTokenValue } from "../db/ids.ts";
import { apikeys, ports, serverHeartbeats, TUNNEL_STATE, tunnels, type TunnelState } from "../db/schema.ts";
import { startPostgres, type PostgresCluster } from "./postgres-cluster.ts";

const open: OpenDatabase[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** An empty database with the migrations applied, closed after the current test. */
export async function memoryDb(): Promise<Database> {
  const o = await openDatabase(process.env.SPOKES_TEST_DB === "postgres" ? { url: await freshPostgresDatabase() } : { path: ":memory:" });
  open.push(o);
  return o.db;
}

let cluster: Promise<PostgresCluster> | undefined;
let databases = 0;

/** A new database in this process's private cluster (started on first use, stopped at exit). */
export async function freshPostgresDatabase(): Promise<string> {
  cluster ??= startPostgres().then((c) => {
    process.on("exit", () => c.stop());
    return c;
  });
  return (await cluster).createDatabase(`test_${++databases}`);
}

export interface TunnelFixture {
  id?: string;
  state?: TunnelState;
  userId?: string | null;
  hostname?: string;
  address?: string;
  serverNode?: string | null;
  connectedAt?: Date | null;
  uptime?: number;
  created?: Date;
  /** Whether the tunnel gets an auth token, and its state. Default: an active one. */
  token?: "active" | "inactive" | "none";
}

/** A tunnel row (and by default its active auth token); returns the tunnel id. */
export async function insertTunnel(db: Database, f: TunnelFixture = {}): Promise<string> {
  const id = f.id ?? newId();
  const created = f.created ?? new Date();
  await db.insert(tunnels).values({
    id,
    state: f.state ?? TUNNEL_STATE.init,
    userId: f.userId ?? null,
    hostname: f.hostname ?? "",
    address: f.address ?? "",
    serverNode: f.serverNode ?? null,
    connectedAt: f.connectedAt ?? null,
    uptime: f.uptime ?? 0,
    created,
    modified: created,
  });
  if ((f.token ?? "active") !== "none") {
    await db.insert(apikeys).values({ id: newId(), value: newTokenValue(), tunnelId: id, userId: f.userId ?? null, active: f.token !== "inactive", created, modified: created });
  }
  return id;
}

export async function insertPort(db: Database, port: number, tunnelId: string, userId: string | null = null): Promise<void> {
  await db.insert(ports).values({ port, id: newId(), tunnelId, userId, created: new Date() });
}

export async function insertHeartbeat(db: Database, node: string, lastSeen: Date): Promise<void> {
  await db.insert(serverHeartbeats).values({ node, started: lastSeen, lastSeen });
}
