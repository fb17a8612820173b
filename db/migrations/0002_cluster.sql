CREATE TABLE `api_pages` (
	`uid` text PRIMARY KEY NOT NULL,
	`body` text NOT NULL,
	`expires` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `api_pages_expires_idx` ON `api_pages` (`expires`);--> statement-breakpoint
CREATE TABLE `tunnel_locations` (
	`tunnel_id` text PRIMARY KEY NOT NULL,
	`node` text NOT NULL,
	`epoch` text NOT NULL,
	`user_id` text,
	`user_name` text DEFAULT '' NOT NULL,
	`hostname` text DEFAULT '' NOT NULL,
	`https` text DEFAULT '[]' NOT NULL,
	`ports` text DEFAULT '[]' NOT NULL,
	`updated` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tunnel_locations_node_idx` ON `tunnel_locations` (`node`);--> statement-breakpoint
ALTER TABLE `server_heartbeats` ADD `advertise` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `server_heartbeats` ADD `fingerprint` text DEFAULT '' NOT NULL;