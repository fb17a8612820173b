// `spokes service` and `pktriot service` through the real dist/ executables: the unit
// `install --dry-run` prints is parsed and checked by systemd's own `systemd-analyze verify`
// and `security --offline`, the error paths without root and without systemd, and a whole
// install / status / uninstall inside a private mount namespace (overlays on /etc and /run,
// a recording stand-in for systemctl) so the machine itself is never touched.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PKTRIOT_BIN, SPOKES_BIN, run, tempDir } from "../helpers.ts";
import { canUnshare, namespaceCommand, upperDir } from "./_namespace.ts";

setDefaultTimeout(30_000);

const hasSystemdAnalyze = Bun.spawnSync(["sh", "-c", "command -v systemd-analyze"]).exitCode === 0;

/** A unit file as `section -> key -> values` (a key may repeat). */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const head = line.match(/^\[(\w+)\]$/);
    if (head) {
      section = head[1]!;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (!section || eq < 1) throw new Error(`not a unit file line: ${line}`);
    ((out[section]![line.slice(0, eq)] ??= []) as string[]).push(line.slice(eq + 1));
  }
  return out;
}

const one = (unit: ReturnType<typeof parseUnit>, section: string, key: string) => {
  const v = unit[section]?.[key];
  expect(v?.length).toBe(1);
  return v![0]!;
};

const cases = [
  { name: "spokes", bin: SPOKES_BIN, command: "serve", defaultConfig: "/etc/spokes/config.json" },
  { name: "pktriot", bin: PKTRIOT_BIN, command: "start", defaultConfig: "/etc/pktriot/config.json" },
] as const;

for (const c of cases) {
  describe(`${c.name} service`, () => {
    test("install --dry-run prints a hardened unit running this executable with the config path", () => {
      // --config before the subcommand (a global flag) and a path with a space, which ExecStart= must quote.
      const r = run(c.bin, ["--config", `/srv/${c.name} conf/config.json`, "service", "install", "--dry-run"], { env: { PKTRIOT_CONFIG: "" } });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const unit = parseUnit(r.stdout);
      expect(one(unit, "Service", "ExecStart")).toBe(`${realpathSync(c.bin)} ${c.command} --config "/srv/${c.name} conf/config.json"`);
      expect(one(unit, "Service", "User")).toBe(c.name);
      expect(one(unit, "Service", "Group")).toBe(c.name);
      expect(one(unit, "Service", "AmbientCapabilities")).toBe("CAP_NET_BIND_SERVICE");
      expect(one(unit, "Service", "CapabilityBoundingSet")).toBe("CAP_NET_BIND_SERVICE");
      expect(one(unit, "Service", "Restart")).toBe("always");
      expect(one(unit, "Service", "StateDirectory")).toBe(c.name);
      expect(one(unit, "Service", "ProtectSystem")).toBe("strict");
      expect(one(unit, "Service", "ReadWritePaths")).toBe(`"/srv/${c.name} conf"`);
      expect(one(unit, "Service", "NoNewPrivileges")).toBe("yes");
      expect(one(unit, "Install", "WantedBy")).toBe("multi-user.target");

      const dflt = parseUnit(run(c.bin, ["service", "install", "--dry-run", "--user", `${c.name}-svc`], { env: { SPOKES_CONFIG: "", PKTRIOT_CONFIG: "", HOME: tempDir() } }).stdout);
      expect(one(dflt, "Service", "ExecStart")).toBe(`${realpathSync(c.bin)} ${c.command} --config ${c.defaultConfig}`);
      expect(one(dflt, "Service", "User")).toBe(`${c.name}-svc`);
    });

    test.skipIf(!hasSystemdAnalyze)("systemd-analyze verify accepts the unit and security --offline rates it well hardened", () => {
      const dir = tempDir();
      const file = join(dir, `${c.name}.service`);
      writeFileSync(file, run(c.bin, ["service", "install", "--dry-run", "--config", `/etc/${c.name}/config.json`]).stdout);
      const verify = Bun.spawnSync(["systemd-analyze", "verify", file], { stderr: "pipe", stdout: "pipe" });
      // verify exits 0 on unknown keys and only warns: any output at all is a defect.
      expect(verify.stderr.toString() + verify.stdout.toString()).toBe("");
      expect(verify.exitCode).toBe(0);

      // A unit verify must reject (the checker is really looking): a missing executable.
      writeFileSync(file, readFileSync(file, "utf8").replace(realpathSync(c.bin), "/nonexistent/bin"));
      expect(Bun.spawnSync(["systemd-analyze", "verify", file], { stderr: "pipe" }).exitCode).not.toBe(0);

      writeFileSync(file, run(c.bin, ["service", "install", "--dry-run", "--config", `/etc/${c.name}/config.json`]).stdout);
      const security = Bun.spawnSync(["systemd-analyze", "security", "--offline=true", "--no-pager", file], { stderr: "pipe", stdout: "pipe" });
      const level = (security.stdout.toString() + security.stderr.toString()).match(/Overall exposure level for \S+: ([\d.]+) (\w+)/);
      expect(level).not.toBeNull();
      // systemd's scale: 10 is an unprotected service, below 4 "OK"; we measured 3.2.
      expect(Number(level![1])).toBeLessThan(4);
    });

    test("without systemd: one clear error, nothing written", () => {
      // This machine has no /run/systemd/system; on one that does, the check runs in a namespace that hides it.
      const argv = [c.bin, "service", "install", "--config", `/etc/${c.name}/config.json`];
      if (existsSync("/run/systemd/system") && !canUnshare) return;
      const root = tempDir();
      const cmd = existsSync("/run/systemd/system")
        ? namespaceCommand({ root, overlays: ["/run", "/etc"], setup: "rm -rf /run/systemd/system" }, argv)
        : argv;
      const r = run(cmd[0]!, cmd.slice(1));
      if (process.getuid?.() === 0) {
        expect(r.stderr).toBe("error: systemd is not running on this machine (no /run/systemd/system): use --dry-run to print the unit and install it with your own init system\n");
      } else {
        expect(r.stderr).toBe(`error: ${c.name} service install needs root: run it with sudo (or --dry-run to print the unit)\n`);
      }
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(existsSync(`/etc/systemd/system/${c.name}.service`)).toBe(false);
      const status = run(c.bin, ["service", "status"]);
      if (!existsSync("/run/systemd/system")) {
        expect(status.stderr).toBe("error: systemd is not running on this machine (no /run/systemd/system): there is no service to inspect\n");
        expect(status.code).toBe(1);
      }
    });

    test("without root: one clear error for install and uninstall", () => {
      const asNobody = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
      // nobody may not be able to reach the checkout (a 0700 temporary directory in CI): a
      // copy of the executable in a directory anyone can enter, run from "/".
      const shared = mkdtempSync("/tmp/service-nobody-");
      chmodSync(shared, 0o755);
      const bin = join(shared, c.name);
      copyFileSync(c.bin, bin);
      chmodSync(bin, 0o755);
      for (const verb of ["install", "uninstall"]) {
        const r = run(asNobody[0] ?? bin, [...asNobody.slice(1), ...(asNobody.length ? [bin] : []), "service", verb, "--config", `/etc/${c.name}/config.json`], { env: { HOME: "/nonexistent", TMPDIR: "/tmp" }, cwd: "/" });
        expect(r.stderr).toBe(`error: ${c.name} service ${verb} needs root: run it with sudo${verb === "install" ? " (or --dry-run to print the unit)" : ""}\n`);
        expect(r.code).toBe(1);
      }
      rmSync(shared, { recursive: true, force: true });
    });

    test("a configuration under a home directory is refused (ProtectHome= would hide it)", () => {
      const r = run(c.bin, ["service", "install", "--dry-run", "--config", `/root/.${c.name}/config.json`]);
      expect(r.stderr).toStartWith(`error: the configuration /root/.${c.name}/config.json is under a home directory, which the hardened unit hides (ProtectHome=yes)`);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.code).toBe(1);
      const bad = run(c.bin, ["service", "install", "--dry-run", "--user", "Bad User"]);
      expect(bad.stderr).toBe('error: --user "Bad User" is not a valid system user name\n');
      expect(bad.code).toBe(2);
    });

    test.skipIf(!canUnshare)("install, status and uninstall against a stand-in systemctl in a private mount namespace", () => {
      const root = tempDir();
      const bin = join(root, "bin");
      const calls = join(root, "systemctl.log");
      Bun.spawnSync(["mkdir", "-p", bin]);
      // Records each call; answers like a running, enabled service.
      writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> ${calls}\ncase "$1" in is-active) echo active;; is-enabled) echo enabled;; esac\n`, { mode: 0o755 });
      const script = [
        `${c.bin} service install --config /etc/${c.name}/config.json; echo "rc=$?"`,
        `stat -c 'configdir=%U %a' /etc/${c.name}`,
        `${c.bin} service status; echo "rc=$?"`,
        `${c.bin} service uninstall; echo "rc=$?"`,
        `${c.bin} service uninstall; echo "rc=$?"`,
        `${c.bin} service status; echo "rc=$?"`,
      ].join("\n");
      const cmd = namespaceCommand({ root, overlays: ["/etc", "/run"], setup: "mkdir -p /run/systemd/system" }, ["env", `PATH=${bin}:${process.env.PATH}`, "bash", "-c", script]);
      const r = run(cmd[0]!, cmd.slice(1));
      const out = r.stdout + r.stderr;
      expect(out).toContain(`installed /etc/systemd/system/${c.name}.service (runs ${realpathSync(c.bin)} as new system user ${c.name}, config /etc/${c.name}/config.json)`);
      expect(out).toContain(`no configuration at /etc/${c.name}/config.json yet: write it, then run systemctl start ${c.name}`);
      expect(out).toContain(`configdir=${c.name} 750`);
      expect(out).toContain(`${c.name}.service: active, enabled\nunit:    /etc/systemd/system/${c.name}.service\ncommand: ${realpathSync(c.bin)} ${c.command} --config /etc/${c.name}/config.json\nrc=0`);
      expect(out).toContain(`removed /etc/systemd/system/${c.name}.service; kept the configuration, /var/lib/${c.name} and the service user\nrc=0`);
      expect(out).toContain(`error: ${c.name}.service is not installed (no /etc/systemd/system/${c.name}.service)`);
      expect(out).toContain(`${c.name}.service: not installed (no /etc/systemd/system/${c.name}.service)\nrc=1`);
      expect(out.match(/^rc=\d$/gm)).toEqual(["rc=0", "rc=0", "rc=0", "rc=1", "rc=1"]);
      expect(readFileSync(calls, "utf8").trim().split("\n")).toEqual([
        "daemon-reload",
        `enable ${c.name}.service`,
        `is-enabled ${c.name}.service`,
        `is-active ${c.name}.service`,
        `disable --now ${c.name}.service`,
        "daemon-reload",
      ]);
      // The system user went to the namespace's /etc (the overlay's upper layer), not the machine's.
      const etc = upperDir(root, "/etc");
      expect(readFileSync(join(etc, "passwd"), "utf8")).toMatch(new RegExp(`^${c.name}:x:\\d+:\\d+::/var/lib/${c.name}:/usr/sbin/nologin$`, "m"));
      expect(statSync(join(etc, c.name)).isDirectory()).toBe(true);
      expect(readFileSync("/etc/passwd", "utf8")).not.toMatch(new RegExp(`^${c.name}:`, "m"));
      expect(existsSync(`/etc/${c.name}`)).toBe(false);
    });
  });
}
