// `spokes service ...` and `pktriot service ...`: install, remove and inspect the hardened
// systemd unit (lib/service/systemd-unit.ts) for the executable that is running.
import { chownSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UserError } from "../lib/errors.ts";
import { renderSystemdUnit, type ServiceProfile } from "../lib/service/systemd-unit.ts";
import { VERSION } from "../lib/version.ts";
import { configArgs } from "./_shared.ts";

export const SPOKES_SERVICE: ServiceProfile = {
  name: "spokes",
  description: "Spokes reverse-tunnel edge server",
  command: "serve",
  defaultConfigPath: "/etc/spokes/config.json",
};

export const PKTRIOT_SERVICE: ServiceProfile = {
  name: "pktriot",
  description: "pktriot tunnel client",
  command: "start",
  defaultConfigPath: "/etc/pktriot/config.json",
};

export const UNIT_DIR = "/etc/systemd/system";
/** systemd creates this directory at boot; its absence means systemd is not the init system (sd_booted(3)). */
const SYSTEMD_RUNNING = "/run/systemd/system";

export const serviceArgs = {
  ...configArgs,
  "dry-run": { type: "boolean", description: "Print what would be written or run, change nothing" },
} as const;

export const installArgs = {
  ...serviceArgs,
  user: { type: "string", description: "System user the service runs as (created if missing; default: the service name)" },
} as const;

const unitPath = (p: ServiceProfile) => `${UNIT_DIR}/${p.name}.service`;

/** Directories the service must not own or that ProtectHome= hides from it. */
const SYSTEM_DIRS = new Set(["/", "/etc", "/usr", "/usr/local", "/usr/local/bin", "/usr/bin", "/bin", "/var", "/var/lib", "/opt", "/srv", "/tmp"]);
const HIDDEN_BY_PROTECT_HOME = /^\/(home|root|run\/user)(\/|$)/;

/** The compiled executable's own path; under `bun commands/x.ts` there is no such file to point a unit at. */
function ownExecutable(p: ServiceProfile): string {
  if (!Bun.main.startsWith("/$bunfs/") && !/^[A-Z]:[\\/]~BUN[\\/]/.test(Bun.main)) {
    throw new UserError(`service install needs the compiled ${p.name} executable (npm run build writes dist/${p.name}), not a script run by bun`);
  }
  return realpathSync(process.execPath);
}

function checkPaths(p: ServiceProfile, execPath: string, configPath: string): void {
  for (const [what, path] of [["executable", execPath], ["configuration", configPath]] as const) {
    if (HIDDEN_BY_PROTECT_HOME.test(path)) {
      throw new UserError(`the ${what} ${path} is under a home directory, which the hardened unit hides (ProtectHome=yes): move it (e.g. ${what === "executable" ? `/usr/local/bin/${p.name}` : p.defaultConfigPath}) and run install from there`);
    }
  }
  if (SYSTEM_DIRS.has(dirname(configPath))) {
    throw new UserError(`the configuration ${configPath} must live in a directory of its own (e.g. ${p.defaultConfigPath}): the service user is given write access to that directory`);
  }
}

function checkSystemManager(p: ServiceProfile, verb: string): void {
  if (process.getuid?.() !== 0) throw new UserError(`${p.name} service ${verb} needs root: run it with sudo${verb === "install" ? " (or --dry-run to print the unit)" : ""}`);
  requireSystemd(verb === "install" ? "use --dry-run to print the unit and install it with your own init system" : "there is no service to manage");
}

function requireSystemd(hint: string): void {
  if (!existsSync(SYSTEMD_RUNNING)) throw new UserError(`systemd is not running on this machine (no ${SYSTEMD_RUNNING}): ${hint}`);
}

function runTool(argv: string[], opts: { allowFail?: boolean } = {}): { ok: boolean; out: string } {
  let r: ReturnType<typeof Bun.spawnSync>;
  try {
    r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  } catch {
    throw new UserError(`cannot run ${argv[0]}: not found on PATH`);
  }
  const out = `${r.stdout?.toString() ?? ""}${r.stderr?.toString() ?? ""}`.trim();
  if (r.exitCode !== 0 && !opts.allowFail) throw new UserError(`${argv.join(" ")} failed: ${out.split("\n")[0] || `exit ${r.exitCode}`}`);
  return { ok: r.exitCode === 0, out };
}

function ensureSystemUser(user: string, home: string): boolean {
  if (runTool(["id", "-u", user], { allowFail: true }).ok) return false;
  runTool(["useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home", "--shell", "/usr/sbin/nologin", user]);
  return true;
}

function userIds(user: string): { uid: number; gid: number } {
  return { uid: Number(runTool(["id", "-u", user]).out), gid: Number(runTool(["id", "-g", user]).out) };
}

export interface InstallRequest {
  configPath: string;
  user?: string;
  dryRun?: boolean;
}

export function installService(p: ServiceProfile, req: InstallRequest): void {
  const user = req.user?.trim() || p.name;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new UserError(`--user ${JSON.stringify(user)} is not a valid system user name`, 2);
  const configPath = resolve(req.configPath);
  const execPath = ownExecutable(p);
  checkPaths(p, execPath, configPath);
  const unit = renderSystemdUnit(p, { execPath, configPath, user, origin: `Written by \`${p.name} service install\` (${p.name} ${VERSION}).` });
  if (req.dryRun) {
    process.stdout.write(unit);
    return;
  }
  checkSystemManager(p, "install");
  const created = ensureSystemUser(user, `/var/lib/${p.name}`);
  const { uid, gid } = userIds(user);
  const configDir = dirname(configPath);
  mkdirSync(configDir, { recursive: true, mode: 0o750 });
  chownSync(configDir, uid, gid);
  if (existsSync(configPath)) chownSync(configPath, uid, gid);
  writeFileSync(unitPath(p), unit, { mode: 0o644 });
  runTool(["systemctl", "daemon-reload"]);
  runTool(["systemctl", "enable", `${p.name}.service`]);
  console.log(`installed ${unitPath(p)} (runs ${execPath} as ${created ? "new system user" : "user"} ${user}, config ${configPath})`);
  if (existsSync(configPath)) {
    runTool(["systemctl", "restart", `${p.name}.service`]);
    console.log(`started ${p.name}.service: follow it with journalctl -u ${p.name} -f`);
  } else {
    console.log(`no configuration at ${configPath} yet: write it, then run systemctl start ${p.name}`);
  }
}

export function uninstallService(p: ServiceProfile, req: { dryRun?: boolean }): void {
  const path = unitPath(p);
  if (req.dryRun) {
    console.log(`would run systemctl disable --now ${p.name}.service, remove ${path}, run systemctl daemon-reload`);
    return;
  }
  checkSystemManager(p, "uninstall");
  if (!existsSync(path)) throw new UserError(`${p.name}.service is not installed (no ${path})`);
  runTool(["systemctl", "disable", "--now", `${p.name}.service`], { allowFail: true });
  rmSync(path);
  runTool(["systemctl", "daemon-reload"]);
  console.log(`removed ${path}; kept the configuration, /var/lib/${p.name} and the service user`);
}

/** Prints the unit's state; exit status 0 only when the service is active. */
export function serviceStatus(p: ServiceProfile): void {
  requireSystemd("there is no service to inspect");
  const path = unitPath(p);
  if (!existsSync(path)) {
    console.log(`${p.name}.service: not installed (no ${path})`);
    process.exitCode = 1;
    return;
  }
  const exec = readFileSync(path, "utf8").match(/^ExecStart=(.*)$/m)?.[1] ?? "?";
  const enabled = runTool(["systemctl", "is-enabled", `${p.name}.service`], { allowFail: true }).out || "unknown";
  const active = runTool(["systemctl", "is-active", `${p.name}.service`], { allowFail: true }).out || "unknown";
  console.log(`${p.name}.service: ${active}, ${enabled}`);
  console.log(`unit:    ${path}`);
  console.log(`command: ${exec}`);
  if (active !== "active") process.exitCode = 1;
}
