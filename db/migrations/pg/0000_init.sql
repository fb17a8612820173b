CREATE TABLE "admin_api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"key_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"last_used" bigint,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "apikeys" (
	"id" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"user_id" text,
	"tunnel_id" text,
	"hostname" text DEFAULT '' NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL,
	"modified" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "bandwidth_daily" (
	"tunnel_id" text NOT NULL,
	"service" text DEFAULT '' NOT NULL,
	"day" text NOT NULL,
	"bytes_in" bigint DEFAULT 0 NOT NULL,
	"bytes_out" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "bandwidth_daily_tunnel_id_service_day_pk" PRIMARY KEY("tunnel_id","service","day")
);
--> statement-breakpoint
CREATE TABLE "connections" (
	"id" text PRIMARY KEY NOT NULL,
	"tunnel_id" text NOT NULL,
	"service" text NOT NULL,
	"protocol" text NOT NULL,
	"remote_address" text DEFAULT '' NOT NULL,
	"bytes_in" bigint DEFAULT 0 NOT NULL,
	"bytes_out" bigint DEFAULT 0 NOT NULL,
	"started" bigint NOT NULL,
	"duration_ms" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "http_services" (
	"id" text PRIMARY KEY NOT NULL,
	"tunnel_id" text NOT NULL,
	"user_id" text,
	"domain" text NOT NULL,
	"secure" boolean DEFAULT false NOT NULL,
	"active" boolean DEFAULT false NOT NULL,
	"available" boolean DEFAULT false NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL,
	"modified" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ports" (
	"port" integer PRIMARY KEY NOT NULL,
	"id" text NOT NULL,
	"tunnel_id" text NOT NULL,
	"user_id" text,
	"destination" text DEFAULT '' NOT NULL,
	"dst_port" integer DEFAULT 0 NOT NULL,
	"label" text DEFAULT '' NOT NULL,
	"active" boolean DEFAULT false NOT NULL,
	"available" boolean DEFAULT false NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "registration_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL,
	"modified" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "server_heartbeats" (
	"node" text PRIMARY KEY NOT NULL,
	"started" bigint NOT NULL,
	"last_seen" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"kind" text NOT NULL,
	"user_id" text,
	"api_key_id" text,
	"pending_2fa" boolean DEFAULT false NOT NULL,
	"csrf_token" text DEFAULT '' NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL,
	"expires" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"modified" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tunnels" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text,
	"state" integer DEFAULT 1 NOT NULL,
	"name" text DEFAULT '' NOT NULL,
	"hostname" text DEFAULT '' NOT NULL,
	"address" text DEFAULT '' NOT NULL,
	"os" text DEFAULT '' NOT NULL,
	"arch" text DEFAULT '' NOT NULL,
	"version" text DEFAULT '' NOT NULL,
	"uptime" integer DEFAULT 0 NOT NULL,
	"connected_at" bigint,
	"last_active" bigint,
	"server_node" text,
	"config" text DEFAULT '{}' NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL,
	"modified" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"full_name" text DEFAULT '' NOT NULL,
	"origin" text NOT NULL,
	"is_admin" boolean DEFAULT false NOT NULL,
	"password_hash" text DEFAULT '' NOT NULL,
	"totp_secret" text DEFAULT '' NOT NULL,
	"totp_state" integer DEFAULT 0 NOT NULL,
	"created" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL,
	"modified" bigint DEFAULT ((extract(epoch from now()) * 1000)::bigint) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "admin_api_keys_hash_unique" ON "admin_api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "apikeys_value_unique" ON "apikeys" USING btree ("value");--> statement-breakpoint
CREATE INDEX "apikeys_tunnel_idx" ON "apikeys" USING btree ("tunnel_id");--> statement-breakpoint
CREATE INDEX "bandwidth_day_idx" ON "bandwidth_daily" USING btree ("day");--> statement-breakpoint
CREATE INDEX "connections_tunnel_idx" ON "connections" USING btree ("tunnel_id","started");--> statement-breakpoint
CREATE UNIQUE INDEX "http_services_domain_unique" ON "http_services" USING btree ("domain");--> statement-breakpoint
CREATE INDEX "http_services_tunnel_idx" ON "http_services" USING btree ("tunnel_id");--> statement-breakpoint
CREATE INDEX "ports_tunnel_idx" ON "ports" USING btree ("tunnel_id");--> statement-breakpoint
CREATE UNIQUE INDEX "registration_tokens_value_unique" ON "registration_tokens" USING btree ("value");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_token_unique" ON "sessions" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "tunnels_state_idx" ON "tunnels" USING btree ("state");--> statement-breakpoint
CREATE INDEX "tunnels_user_idx" ON "tunnels" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_unique" ON "users" USING btree ("email");