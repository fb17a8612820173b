// Writes deploy/systemd/ (units, sysusers.d and tmpfiles.d entries) from the template that
// `service install` uses: bun scripts/generate-systemd-units.ts
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packagedServiceFiles } from "../commands/_service-files.ts";

const dir = join(import.meta.dir, "..", "deploy", "systemd");
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(packagedServiceFiles())) {
  writeFileSync(join(dir, name), text);
  console.log(`wrote deploy/systemd/${name}`);
}
