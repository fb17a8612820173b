ALTER TABLE "http_services" ADD COLUMN "last_check" bigint;--> statement-breakpoint
ALTER TABLE "ports" ADD COLUMN "last_check" bigint;