// Every table the product stores, for SQLite / libSQL. db/schema/pg.ts declares the same
// tables for PostgreSQL; db/schema.ts picks one. IDs are 32 lowercase hex characters
// (db/ids.ts); times are integer milliseconds since the epoch (drizzle "timestamp_ms"
// mode, a bigint in PostgreSQL), so raw SQL arithmetic on them is the same on both engines.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { TunnelState, UserOrigin } from "./values.ts";

const created = () => integer("created", { mode: "timestamp_ms" }).notNull().default(sql`(unixepoch() * 1000)`);
const modified = () => integer("modified", { mode: "timestamp_ms" }).notNull().default(sql`(unixepoch() * 1000)`);

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  email: text("email").notNull(),
  fullName: text("full_name").notNull().default(""),
  origin: text("origin").$type<UserOrigin>().notNull(),
  isAdmin: integer("is_admin", { mode: "boolean" }).notNull().default(false),
  passwordHash: text("password_hash").notNull().default(""),
  totpSecret: text("totp_secret").notNull().default(""),
  totpState: integer("totp_state").notNull().default(0),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("users_email_unique").on(t.email)]);

export const registrationTokens = sqliteTable("registration_tokens", {
  id: text("id").primaryKey(),
  value: text("value").notNull(),
  description: text("description").notNull().default(""),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("registration_tokens_value_unique").on(t.value)]);

/** Tunnel auth tokens (the original calls the table `apikeys`). One token opens one tunnel. */
export const apikeys = sqliteTable("apikeys", {
  id: text("id").primaryKey(),
  value: text("value").notNull(),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  userId: text("user_id"),
  tunnelId: text("tunnel_id"),
  hostname: text("hostname").notNull().default(""),
  description: text("description").notNull().default(""),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("apikeys_value_unique").on(t.value), index("apikeys_tunnel_idx").on(t.tunnelId)]);

/** Keys for the Admin JSON API. Only a SHA-256 of the key is kept; `prefix` is for listings. */
export const adminApiKeys = sqliteTable("admin_api_keys", {
  id: text("id").primaryKey(),
  keyHash: text("key_hash").notNull(),
  prefix: text("prefix").notNull(),
  description: text("description").notNull().default(""),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  lastUsed: integer("last_used", { mode: "timestamp_ms" }),
  created: created(),
}, (t) => [uniqueIndex("admin_api_keys_hash_unique").on(t.keyHash)]);

export const tunnels = sqliteTable("tunnels", {
  id: text("id").primaryKey(),
  userId: text("user_id"),
  state: integer("state").$type<TunnelState>().notNull().default(1),
  name: text("name").notNull().default(""),
  hostname: text("hostname").notNull().default(""),
  address: text("address").notNull().default(""),
  os: text("os").notNull().default(""),
  arch: text("arch").notNull().default(""),
  version: text("version").notNull().default(""),
  /** Seconds online in the current session, refreshed by the server's heartbeat. */
  uptime: integer("uptime").notNull().default(0),
  /** When the current session began (null when offline). */
  connectedAt: integer("connected_at", { mode: "timestamp_ms" }),
  lastActive: integer("last_active", { mode: "timestamp_ms" }),
  /** The server node that holds the live session (db/heartbeats), for stale-online detection. */
  serverNode: text("server_node"),
  /** The client's traffic configuration as last announced (JSON, SPEC 3.1 shape). */
  config: text("config").notNull().default("{}"),
  created: created(),
  modified: modified(),
}, (t) => [index("tunnels_state_idx").on(t.state), index("tunnels_user_idx").on(t.userId)]);

/** Allocated public TCP ports, with the forward the client set (empty destination = none). */
export const ports = sqliteTable("ports", {
  port: integer("port").primaryKey(),
  id: text("id").notNull(),
  tunnelId: text("tunnel_id").notNull(),
  userId: text("user_id"),
  destination: text("destination").notNull().default(""),
  dstPort: integer("dst_port").notNull().default(0),
  label: text("label").notNull().default(""),
  active: integer("active", { mode: "boolean" }).notNull().default(false),
  available: integer("available", { mode: "boolean" }).notNull().default(false),
  /** When the client last reported a monitoring check of this service (null: never, monitoring off). */
  lastCheck: integer("last_check", { mode: "timestamp_ms" }),
  created: created(),
}, (t) => [index("ports_tunnel_idx").on(t.tunnelId)]);

/** HTTP services a tunnel announced (cached, so offline tunnels still show their rules). */
export const httpServices = sqliteTable("http_services", {
  id: text("id").primaryKey(),
  tunnelId: text("tunnel_id").notNull(),
  userId: text("user_id"),
  domain: text("domain").notNull(),
  secure: integer("secure", { mode: "boolean" }).notNull().default(false),
  active: integer("active", { mode: "boolean" }).notNull().default(false),
  available: integer("available", { mode: "boolean" }).notNull().default(false),
  /** When the client last reported a monitoring check of this service (null: never, monitoring off). */
  lastCheck: integer("last_check", { mode: "timestamp_ms" }),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("http_services_domain_unique").on(t.domain), index("http_services_tunnel_idx").on(t.tunnelId)]);

/** Bytes per tunnel, service and UTC day. `service` is a domain, a port number, or "" for the tunnel total. */
export const bandwidthDaily = sqliteTable("bandwidth_daily", {
  tunnelId: text("tunnel_id").notNull(),
  service: text("service").notNull().default(""),
  day: text("day").notNull(),
  bytesIn: integer("bytes_in").notNull().default(0),
  bytesOut: integer("bytes_out").notNull().default(0),
}, (t) => [primaryKey({ columns: [t.tunnelId, t.service, t.day] }), index("bandwidth_day_idx").on(t.day)]);

/** One row per proxied connection, written when it closes. */
export const connections = sqliteTable("connections", {
  id: text("id").primaryKey(),
  tunnelId: text("tunnel_id").notNull(),
  service: text("service").notNull(),
  protocol: text("protocol").notNull(),
  remoteAddress: text("remote_address").notNull().default(""),
  bytesIn: integer("bytes_in").notNull().default(0),
  bytesOut: integer("bytes_out").notNull().default(0),
  started: integer("started", { mode: "timestamp_ms" }).notNull(),
  durationMs: integer("duration_ms").notNull().default(0),
}, (t) => [index("connections_tunnel_idx").on(t.tunnelId, t.started)]);

/** Settings changed in the dashboard (key → JSON value); they override the config file. */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  modified: modified(),
});

/** Dashboard and Admin API sessions. Only a SHA-256 of the cookie value is stored. */
export const sessions = sqliteTable("sessions", {
  id: text("id").primaryKey(),
  tokenHash: text("token_hash").notNull(),
  kind: text("kind").$type<"dashboard" | "api">().notNull(),
  userId: text("user_id"),
  apiKeyId: text("api_key_id"),
  /** Dashboard sessions wait here until the second factor is given. */
  pending2fa: integer("pending_2fa", { mode: "boolean" }).notNull().default(false),
  csrfToken: text("csrf_token").notNull().default(""),
  created: created(),
  expires: integer("expires", { mode: "timestamp_ms" }).notNull(),
}, (t) => [uniqueIndex("sessions_token_unique").on(t.tokenHash)]);

/**
 * Each running server node refreshes its row every few seconds (SPEC 2.2 "How the CLI knows").
 * Cluster nodes also publish where peers reach them and the certificate they present there.
 */
export const serverHeartbeats = sqliteTable("server_heartbeats", {
  node: text("node").primaryKey(),
  started: integer("started", { mode: "timestamp_ms" }).notNull(),
  lastSeen: integer("last_seen", { mode: "timestamp_ms" }).notNull(),
  /** Cluster mode: "host:port" of the node's tunnel endpoint ("" outside cluster mode). */
  advertise: text("advertise").notNull().default(""),
  /** Cluster mode: `sha256:<hex>` of the certificate served at `advertise` (the form clients pin). */
  fingerprint: text("fingerprint").notNull().default(""),
});

/**
 * Cluster mode: the node each connected tunnel's client is on now, its session there (the
 * epoch: a newer login has another), and the routes that node accepted (JSON arrays of
 * HttpRuleAnnounce / PortRuleAnnounce), so other nodes can route to it through a peer link.
 */
export const tunnelLocations = sqliteTable("tunnel_locations", {
  tunnelId: text("tunnel_id").primaryKey(),
  node: text("node").notNull(),
  epoch: text("epoch").notNull(),
  userId: text("user_id"),
  userName: text("user_name").notNull().default(""),
  hostname: text("hostname").notNull().default(""),
  https: text("https").notNull().default("[]"),
  ports: text("ports").notNull().default("[]"),
  updated: integer("updated", { mode: "timestamp_ms" }).notNull(),
}, (t) => [index("tunnel_locations_node_idx").on(t.node)]);

/**
 * Admin API page sets (SPEC 2.3 "Pagination"): each page of a long tunnel listing under its
 * uid until `expires`, in the database so a page listed through one node is fetched from any.
 */
export const apiPages = sqliteTable("api_pages", {
  uid: text("uid").primaryKey(),
  /** JSON: { items, total, links }. */
  body: text("body").notNull(),
  expires: integer("expires", { mode: "timestamp_ms" }).notNull(),
}, (t) => [index("api_pages_expires_idx").on(t.expires)]);
