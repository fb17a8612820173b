// deploy/systemd/ is generated from the template `service install` uses: the committed
// files must equal the generated ones (run `bun scripts/generate-systemd-units.ts` after
// changing lib/service/systemd-unit.ts), and systemd's own tools must accept them.
import { expect, test } from "bun:test";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packagedServiceFiles } from "../../../commands/_service-files.ts";
import { quoteExecArg } from "../../../lib/service/systemd-unit.ts";

const DEPLOY = join(import.meta.dir, "..", "..", "..", "deploy", "systemd");
const has = (tool: string) => Bun.spawnSync(["sh", "-c", `command -v ${tool}`]).exitCode === 0;

test("the committed deploy/systemd files are exactly the generated ones", () => {
  const generated = packagedServiceFiles();
  expect(readdirSync(DEPLOY).sort()).toEqual(Object.keys(generated).sort());
  for (const [name, text] of Object.entries(generated)) expect(readFileSync(join(DEPLOY, name), "utf8")).toBe(text);
  expect(generated["spokes.service"]).toContain("ExecStart=/usr/local/bin/spokes serve --config /etc/spokes/config.json\n");
  expect(generated["pktriot.service"]).toContain("ExecStart=/usr/local/bin/pktriot start --config /etc/pktriot/config.json\n");
});

test("ExecStart= arguments are quoted and escaped the way systemd splits them", () => {
  expect(quoteExecArg("/etc/spokes/config.json")).toBe("/etc/spokes/config.json");
  expect(quoteExecArg("/srv/my conf/c.json")).toBe('"/srv/my conf/c.json"');
  expect(quoteExecArg("/srv/100%/c.json")).toBe("/srv/100%%/c.json");
  expect(quoteExecArg("/srv/$HOME")).toBe("/srv/$$HOME");
  expect(quoteExecArg('/srv/a"b c')).toBe('"/srv/a\\"b c"');
});

test.skipIf(!has("systemd-sysusers") || !has("systemd-tmpfiles"))("systemd-sysusers and systemd-tmpfiles create the user and config directory in a scratch root", () => {
  const root = mkdtempSync(join(tmpdir(), "spokes-sysusers-"));
  try {
    mkdirSync(join(root, "etc"));
    for (const f of ["passwd", "group"]) cpSync(`/etc/${f}`, join(root, "etc", f));
    for (const kind of ["sysusers", "tmpfiles"]) {
      mkdirSync(join(root, "usr", "lib", `${kind}.d`), { recursive: true });
      for (const name of ["spokes", "pktriot"]) cpSync(join(DEPLOY, `${name}.${kind}`), join(root, "usr", "lib", `${kind}.d`, `${name}.conf`));
    }
    const sysusers = Bun.spawnSync(["systemd-sysusers", `--root=${root}`], { stderr: "pipe" });
    expect(sysusers.exitCode).toBe(0);
    const passwd = readFileSync(join(root, "etc", "passwd"), "utf8");
    const uid = (name: string) => Number(passwd.match(new RegExp(`^${name}:x:(\\d+):\\d+:[^:]*:/var/lib/${name}:/usr/sbin/nologin$`, "m"))?.[1]);
    const tmpfiles = Bun.spawnSync(["systemd-tmpfiles", "--create", `--root=${root}`], { stderr: "pipe" });
    expect(tmpfiles.stderr.toString()).toBe("");
    for (const name of ["spokes", "pktriot"]) {
      expect(uid(name)).toBeGreaterThan(0);
      const st = statSync(join(root, "etc", name));
      expect(st.uid).toBe(uid(name));
      expect(st.mode & 0o777).toBe(0o750);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
