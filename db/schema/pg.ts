// The tables of db/schema/sqlite.ts for PostgreSQL (see there for what each holds).
// Column names, keys and indexes are the same; a time is a bigint of epoch milliseconds
// read back as a Date, a flag is a boolean, and byte counters are bigints.
import { sql } from "drizzle-orm";
import { bigint, boolean, customType, index, integer, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import type { TunnelState, UserOrigin } from "./values.ts";

/** Epoch milliseconds in a bigint (postgres.js returns int8 as a string). */
const msTime = customType<{ data: Date; driverData: string | number }>({
  dataType: () => "bigint",
  toDriver: (d) => d.getTime(),
  fromDriver: (v) => new Date(Number(v)),
});
const nowMs = sql`((extract(epoch from now()) * 1000)::bigint)`;
const created = () => msTime("created").notNull().default(nowMs);
const modified = () => msTime("modified").notNull().default(nowMs);

export const users = pgTable("users", {
  id: text("id").primaryKey(),
  email: text("email").notNull(),
  fullName: text("full_name").notNull().default(""),
  origin: text("origin").$type<UserOrigin>().notNull(),
  isAdmin: boolean("is_admin").notNull().default(false),
  passwordHash: text("password_hash").notNull().default(""),
  totpSecret: text("totp_secret").notNull().default(""),
  totpState: integer("totp_state").notNull().default(0),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("users_email_unique").on(t.email)]);

export const registrationTokens = pgTable("registration_tokens", {
  id: text("id").primaryKey(),
  value: text("value").notNull(),
  description: text("description").notNull().default(""),
  active: boolean("active").notNull().default(true),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("registration_tokens_value_unique").on(t.value)]);
export const apikeys = pgTable("apikeys", {
  id: text("id").primaryKey(),
  value: text("value").notNull(),
  active: boolean("active").notNull().default(true),
  userId: text("user_id"),
  tunnelId: text("tunnel_id"),
  hostname: text("hostname").notNull().default(""),
  description: text("description").notNull().default(""),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("apikeys_value_unique").on(t.value), index("apikeys_tunnel_idx").on(t.tunnelId)]);
export const adminApiKeys = pgTable("admin_api_keys", {
  id: text("id").primaryKey(),
  keyHash: text("key_hash").notNull(),
  prefix: text("prefix").notNull(),
  description: text("description").notNull().default(""),
  active: boolean("active").notNull().default(true),
  lastUsed: msTime("last_used"),
  created: created(),
}, (t) => [uniqueIndex("admin_api_keys_hash_unique").on(t.keyHash)]);

export const tunnels = pgTable("tunnels", {
  id: text("id").primaryKey(),
  userId: text("user_id"),
  state: integer("state").$type<TunnelState>().notNull().default(1),
  name: text("name").notNull().default(""),
  hostname: text("hostname").notNull().default(""),
  address: text("address").notNull().default(""),
  os: text("os").notNull().default(""),
  arch: text("arch").notNull().default(""),
  version: text("version").notNull().default(""),
  uptime: integer("uptime").notNull().default(0),
  connectedAt: msTime("connected_at"),
  lastActive: msTime("last_active"),
  serverNode: text("server_node"),
  config: text("config").notNull().default("{}"),
  created: created(),
  modified: modified(),
}, (t) => [index("tunnels_state_idx").on(t.state), index("tunnels_user_idx").on(t.userId)]);
export const ports = pgTable("ports", {
  port: integer("port").primaryKey(),
  id: text("id").notNull(),
  tunnelId: text("tunnel_id").notNull(),
  userId: text("user_id"),
  destination: text("destination").notNull().default(""),
  dstPort: integer("dst_port").notNull().default(0),
  label: text("label").notNull().default(""),
  active: boolean("active").notNull().default(false),
  available: boolean("available").notNull().default(false),
  /** When the client last reported a monitoring check of this service (null: never, monitoring off). */
  lastCheck: msTime("last_check"),
  created: created(),
}, (t) => [index("ports_tunnel_idx").on(t.tunnelId)]);
export const httpServices = pgTable("http_services", {
  id: text("id").primaryKey(),
  tunnelId: text("tunnel_id").notNull(),
  userId: text("user_id"),
  domain: text("domain").notNull(),
  secure: boolean("secure").notNull().default(false),
  active: boolean("active").notNull().default(false),
  available: boolean("available").notNull().default(false),
  /** When the client last reported a monitoring check of this service (null: never, monitoring off). */
  lastCheck: msTime("last_check"),
  created: created(),
  modified: modified(),
}, (t) => [uniqueIndex("http_services_domain_unique").on(t.domain), index("http_services_tunnel_idx").on(t.tunnelId)]);
export const bandwidthDaily = pgTable("bandwidth_daily", {
  tunnelId: text("tunnel_id").notNull(),
  service: text("service").notNull().default(""),
  day: text("day").notNull(),
  bytesIn: bigint("bytes_in", { mode: "number" }).notNull().default(0),
  bytesOut: bigint("bytes_out", { mode: "number" }).notNull().default(0),
}, (t) => [primaryKey({ columns: [t.tunnelId, t.service, t.day] }), index("bandwidth_day_idx").on(t.day)]);
export const connections = pgTable("connections", {
  id: text("id").primaryKey(),
  tunnelId: text("tunnel_id").notNull(),
  service: text("service").notNull(),
  protocol: text("protocol").notNull(),
  remoteAddress: text("remote_address").notNull().default(""),
  bytesIn: bigint("bytes_in", { mode: "number" }).notNull().default(0),
  bytesOut: bigint("bytes_out", { mode: "number" }).notNull().default(0),
  started: msTime("started").notNull(),
  durationMs: bigint("duration_ms", { mode: "number" }).notNull().default(0),
}, (t) => [index("connections_tunnel_idx").on(t.tunnelId, t.started)]);
export const settings = pgTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  modified: modified(),
});
export const sessions = pgTable("sessions", {
  id: text("id").primaryKey(),
  tokenHash: text("token_hash").notNull(),
  kind: text("kind").$type<"dashboard" | "api">().notNull(),
  userId: text("user_id"),
  apiKeyId: text("api_key_id"),
  pending2fa: boolean("pending_2fa").notNull().default(false),
  csrfToken: text("csrf_token").notNull().default(""),
  created: created(),
  expires: msTime("expires").notNull(),
}, (t) => [uniqueIndex("sessions_token_unique").on(t.tokenHash)]);
export const serverHeartbeats = pgTable("server_heartbeats", {
  node: text("node").primaryKey(),
  started: msTime("started").notNull(),
  lastSeen: msTime("last_seen").notNull(),
  advertise: text("advertise").notNull().default(""),
  fingerprint: text("fingerprint").notNull().default(""),
});
export const tunnelLocations = pgTable("tunnel_locations", {
  tunnelId: text("tunnel_id").primaryKey(),
  node: text("node").notNull(),
  epoch: text("epoch").notNull(),
  userId: text("user_id"),
  userName: text("user_name").notNull().default(""),
  hostname: text("hostname").notNull().default(""),
  https: text("https").notNull().default("[]"),
  ports: text("ports").notNull().default("[]"),
  updated: msTime("updated").notNull(),
}, (t) => [index("tunnel_locations_node_idx").on(t.node)]);
export const apiPages = pgTable("api_pages", {
  uid: text("uid").primaryKey(),
  body: text("body").notNull(),
  expires: msTime("expires").notNull(),
}, (t) => [index("api_pages_expires_idx").on(t.expires)]);
