ALTER TABLE `http_services` ADD `last_check` integer;--> statement-breakpoint
ALTER TABLE `ports` ADD `last_check` integer;