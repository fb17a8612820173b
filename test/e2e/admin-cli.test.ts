// The admin CLI of SPEC 2.2, run as the real compiled executable (dist/spokes) against a
// sqlite file. States the CLI cannot create (online tunnels, ports, traffic, heartbeats)
// are inserted into that file directly, as the server would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { openDatabase, type OpenDatabase } from "../../db/client.ts";
import { addBandwidth, dayKey } from "../../db/queries/bandwidth.ts";
import { createClusterStore } from "../../db/queries/cluster.ts";
import { findOrCreateTunnelUser, findUserByEmail, verifyPassword } from "../../db/queries/users.ts";
import { apikeys, ports, TOTP_STATE, TUNNEL_STATE, tunnels } from "../../db/schema.ts";
import { spokes as spokesRoot } from "../../commands/spokes.ts";
import { renderTable } from "../../lib/format/table.ts";
import { formatDate } from "../../lib/format/units.ts";
import { insertHeartbeat, insertPort, insertTunnel } from "../db-fixtures.ts";
import { SPOKES_BIN, spokes, tempDir, writeServerConfig, type RunResult } from "../helpers.ts";

if (!existsSync(SPOKES_BIN)) throw new Error(`${SPOKES_BIN} is missing: run \`bun scripts/build.ts\` first`);

/** Every command path the tests ran, checked against the command tree at the end. */
const covered = new Set<string>();

interface Server {
  config: string;
  dir: string;
  db: OpenDatabase["db"];
  /** Runs `spokes <command> <flags> --config <this config>`. */
  cli(command: string, flags?: string[], opts?: { stdin?: string }): RunResult;
}

const opened: OpenDatabase[] = [];
afterAll(() => opened.forEach((o) => o.close()));

/** A config and database of its own, so each group starts from an empty state. */
async function newServer(overrides: Record<string, unknown> = {}): Promise<Server> {
  const dir = tempDir();
  // The CLI never binds these ports, and the expectations below name ports of this range.
  const config = writeServerConfig(dir, { portRange: { begin: 30000, end: 30099 }, ...overrides });
  const o = await openDatabase({ path: join(dir, "spokes.db") });
  opened.push(o);
  return {
    config,
    dir,
    db: o.db,
    cli(command, flags = [], opts = {}) {
      covered.add(command);
      return spokes([...command.split(" "), ...flags, "--config", config], opts);
    },
  };
}

const lines = (s: string) => s.trimEnd().split("\n");
const ok = (r: RunResult) => {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  expect(r.stderr).toBe("");
  return r.stdout;
};
/** A one-line error on stderr, nothing on stdout, and the exit code. */
function fails(r: RunResult, code: 1 | 2, message: string | RegExp): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code, stdout: "" });
  expect(lines(r.stderr)).toHaveLength(1);
  if (typeof message === "string") expect(r.stderr).toBe(`error: ${message}\n`);
  else expect(r.stderr).toMatch(message);
}
const json = (r: RunResult) => JSON.parse(ok(r)) as Record<string, unknown>[];
const iso = (d: Date | null) => (d ? d.toISOString() : null);

describe("global flags and configuration", () => {
  let s: Server;
  beforeAll(async () => {
    s = await newServer();
  });

  test("version", () => {
    covered.add("version");
    expect(ok(spokes(["version"]))).toBe(`${pkg.version}\n`);
  });

  test("--config before the subcommand, after it, and SPOKES_CONFIG", () => {
    const empty = `${renderTable(["ID", "Email", "Fullname", "Origin", "Created"], [])}\n0 users\n`;
    expect(ok(spokes(["--config", s.config, "users", "ls"]))).toBe(empty);
    expect(ok(spokes(["users", "ls", "--config", s.config]))).toBe(empty);
    expect(ok(spokes(["users", "--config", s.config, "ls"]))).toBe(empty);
    expect(ok(spokes([`--config=${s.config}`, "users", "ls"]))).toBe(empty);
    expect(ok(spokes(["users", "ls"], { env: { SPOKES_CONFIG: s.config } }))).toBe(empty);
    // --config wins over SPOKES_CONFIG.
    fails(spokes(["users", "ls", "--config", "/nonexistent/c.json"], { env: { SPOKES_CONFIG: s.config } }), 1, /^error: config file \/nonexistent\/c\.json not found/);
  });

  test("a missing config file names the path and how to give one", () => {
    fails(
      spokes(["token", "ls", "--config", join(s.dir, "missing.json")]),
      1,
      `config file ${join(s.dir, "missing.json")} not found (use --config PATH or SPOKES_CONFIG, or set DOMAIN for a first run)`,
    );
    if (!existsSync("/etc/spokes/config.json")) {
      fails(spokes(["token", "ls"]), 1, "config file /etc/spokes/config.json not found (use --config PATH or SPOKES_CONFIG, or set DOMAIN for a first run)");
    }
    fails(spokes(["token", "ls", "--config"]), 2, "flag --config needs a path");
  });

  test("a malformed config file: bad JSON, then a bad field named in the message", () => {
    const bad = join(s.dir, "bad.json");
    writeFileSync(bad, "{ nope");
    fails(spokes(["users", "ls", "--config", bad]), 1, /^error: cannot read config file .*bad\.json: invalid JSON \(/);
    writeFileSync(bad, JSON.stringify({ domain: "spokes.test", portRange: { begin: 22000, end: 21000 } }));
    fails(spokes(["users", "ls", "--config", bad]), 1, "config portRange.end (21000) is below portRange.begin (22000)");
    writeFileSync(bad, JSON.stringify({ domain: "not a domain" }));
    fails(spokes(["users", "ls", "--config", bad]), 1, 'config domain ("not a domain") is not a valid hostname');
  });

  test("unknown commands and flags are usage errors (exit 2)", () => {
    fails(spokes(["users", "frobnicate", "--config", s.config]), 2, 'unknown command "frobnicate"');
    fails(spokes(["users", "ls", "--bogus", "--config", s.config]), 2, "unknown flag --bogus");
    const r = spokes(["token", "--config", s.config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("USAGE");
  });
});

describe("users", () => {
  let s: Server;
  beforeAll(async () => {
    s = await newServer();
  });

  test("add with --password-stdin, with and without 2FA", async () => {
    expect(ok(s.cli("users add", ["--email", "Ann@Example.com", "--fullname", "Ann Admin", "--password-stdin"], { stdin: "pw-ann\n" }))).toBe("User created!\n");
    expect(ok(s.cli("users add", ["--email", "bob@example.com", "--fullname", "Bob", "--enable2FA", "--password-stdin"], { stdin: "pw-bob\n" }))).toBe(
      "Info: Two-factor authentication (one-time-passcodes) will be setup on first-login.\nUser created!\n",
    );
    const ann = (await findUserByEmail(s.db, "ann@example.com"))!;
    expect(ann).toMatchObject({ fullName: "Ann Admin", origin: "Admin CLI", isAdmin: true, totpState: TOTP_STATE.disabled });
    expect(await verifyPassword(ann, "pw-ann")).toBe(true);
    expect((await findUserByEmail(s.db, "bob@example.com"))!.totpState).toBe(TOTP_STATE.pendingSetup);
  });

  test("add rejects duplicate and malformed emails, empty and mismatched passwords, missing flags", () => {
    const add = (email: string, stdin = "pw\n", extra: string[] = ["--password-stdin"]) => s.cli("users add", ["--email", email, "--fullname", "X", ...extra], { stdin });
    fails(add("ANN@example.com"), 1, "a user with email ann@example.com already exists");
    fails(add("not-an-email"), 1, 'invalid email address "not-an-email"');
    fails(add("c@example.com", "\n"), 1, "password must not be empty");
    // Piped without --password-stdin: the second line is the confirmation.
    fails(add("c@example.com", "one\ntwo\n", []), 1, "passwords do not match");
    fails(s.cli("users add", ["--fullname", "X", "--password-stdin"], { stdin: "pw\n" }), 2, "missing required argument: --email");
    fails(s.cli("users add", ["--email", "d@example.com", "--password-stdin"], { stdin: "pw\n" }), 2, "missing required argument: --fullname");
  });

  test("ls lists admins; --all adds tunnel users; --json", async () => {
    await findOrCreateTunnelUser(s.db, "device-7");
    const ann = (await findUserByEmail(s.db, "ann@example.com"))!;
    const bob = (await findUserByEmail(s.db, "bob@example.com"))!;
    const dev = (await findUserByEmail(s.db, "device-7"))!;
    const header = ["ID", "Email", "Fullname", "Origin", "Created"];
    const row = (u: typeof ann) => [u.id, u.email, u.fullName, u.origin, formatDate(u.created)];
    expect(ok(s.cli("users ls"))).toBe(`${renderTable(header, [row(ann), row(bob)])}\n2 users\n`);
    expect(ok(s.cli("users ls", ["--all"]))).toBe(`${renderTable(header, [row(ann), row(bob), row(dev)])}\n3 users\n`);
    expect(dev.origin).toBe("Tunnel Registration");
    expect(json(s.cli("users ls", ["--json"]))).toEqual([
      { id: ann.id, email: "ann@example.com", fullName: "Ann Admin", origin: "Admin CLI", isAdmin: true, twoFactor: "disabled", created: iso(ann.created), modified: iso(ann.modified) },
      { id: bob.id, email: "bob@example.com", fullName: "Bob", origin: "Admin CLI", isAdmin: true, twoFactor: "pending", created: iso(bob.created), modified: iso(bob.modified) },
    ]);
  });

  // script(1) gives the executable a real terminal, so the masked prompts are exercised.
  // Each answer is typed once its prompt is shown, as a person would (keys typed earlier
  // would be edited by the terminal's line discipline, not by the prompt).
  test.skipIf(!Bun.which("script"))("on a terminal: masked Password/Confirm prompts, backspace, a pasted pair", async () => {
    const t = await newServer();
    const onTty = async (command: string, flags: string[], answers: [prompt: string, keys: string][]) => {
      covered.add(command);
      const argv = [SPOKES_BIN, ...command.split(" "), ...flags, "--config", t.config].map((a) => `'${a}'`).join(" ");
      const proc = Bun.spawn(["script", "-qec", argv, "/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "dumb" } });
      const timer = setTimeout(() => proc.kill(), 20_000);
      let out = "";
      const decoder = new TextDecoder();
      const reader = proc.stdout.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        out += decoder.decode(r.value, { stream: true });
        const next = answers[0];
        if (next && out.endsWith(next[0])) {
          answers.shift();
          proc.stdin.write(next[1]);
          await proc.stdin.flush();
        }
      }
      clearTimeout(timer);
      proc.stdin.end();
      return { code: await proc.exited, out: out.replace(/\x1b\[[0-9;]*m/g, "") };
    };
    const add = await onTty("users add", ["--email", "tty@example.com", "--fullname", "Tty"], [
      ["Password: ", "ab\x7fc\r"],
      ["Confirm: ", "ac\r"],
    ]);
    expect(add).toEqual({ code: 0, out: "Password: **\b \b*\r\nConfirm: **\r\nUser created!\r\n" });
    expect(await verifyPassword((await findUserByEmail(t.db, "tty@example.com"))!, "ac")).toBe(true);
    const mismatch = await onTty("users passwd", ["--email", "tty@example.com"], [
      ["New password for 'tty@example.com': ", "one\r"],
      ["Confirm: ", "two\r"],
    ]);
    expect(mismatch).toEqual({ code: 1, out: "New password for 'tty@example.com': ***\r\nConfirm: ***\r\nerror: passwords do not match\r\n" });
    // Both answers in one chunk (a paste): the second line goes to Confirm.
    const pasted = await onTty("users passwd", ["--email", "tty@example.com"], [["New password for 'tty@example.com': ", "xy\rxy\r"]]);
    expect(pasted).toEqual({ code: 0, out: "New password for 'tty@example.com': **\r\nConfirm: **\r\nPassword updated\r\n" });
    expect(await verifyPassword((await findUserByEmail(t.db, "tty@example.com"))!, "xy")).toBe(true);
  });

  test("passwd by --email and by --id", async () => {
    expect(ok(s.cli("users passwd", ["--email", "ann@example.com", "--password-stdin"], { stdin: "new-pw\n" }))).toBe("Password updated\n");
    expect(await verifyPassword((await findUserByEmail(s.db, "ann@example.com"))!, "new-pw")).toBe(true);
    const bob = (await findUserByEmail(s.db, "bob@example.com"))!;
    expect(ok(s.cli("users passwd", ["--id", bob.id, "--password-stdin"], { stdin: "bob-2\n" }))).toBe("Password updated\n");
    expect(await verifyPassword((await findUserByEmail(s.db, "bob@example.com"))!, "bob-2")).toBe(true);
  });

  test("passwd errors: unknown user, malformed id, empty password, flags", () => {
    fails(s.cli("users passwd", ["--email", "nobody@example.com", "--password-stdin"], { stdin: "x\n" }), 1, "no user with email nobody@example.com");
    fails(s.cli("users passwd", ["--id", "0".repeat(32), "--password-stdin"], { stdin: "x\n" }), 1, `no user with id ${"0".repeat(32)}`);
    fails(s.cli("users passwd", ["--id", "12ab", "--password-stdin"], { stdin: "x\n" }), 1, 'malformed user id "12ab" (expected 32 lowercase hex characters)');
    fails(s.cli("users passwd", ["--email", "ann@example.com", "--password-stdin"], { stdin: "" }), 1, "password must not be empty");
    fails(s.cli("users passwd", ["--email", "device-7", "--password-stdin"], { stdin: "x\n" }), 1, "device-7 is a tunnel user (origin Tunnel Registration), which cannot log in");
    fails(s.cli("users passwd", ["--password-stdin"], { stdin: "x\n" }), 2, "give --email or --id");
    fails(s.cli("users passwd", ["--email", "ann@example.com", "--id", "0".repeat(32)]), 2, "give either --email or --id, not both");
  });

  test("two-factor enable, reset, disable", async () => {
    const state = async () => (await findUserByEmail(s.db, "ann@example.com"))!.totpState;
    expect(ok(s.cli("users two-factor enable", ["--email", "ann@example.com"]))).toBe("Two-factor enabled, setup will be completed on next login\n");
    expect(await state()).toBe(TOTP_STATE.pendingSetup);
    const ann = (await findUserByEmail(s.db, "ann@example.com"))!;
    expect(ok(s.cli("users two-factor reset", ["--id", ann.id]))).toBe("Two-factor reset, setup will be completed on next login\n");
    expect(await state()).toBe(TOTP_STATE.pendingSetup);
    expect(ok(s.cli("users two-factor disable", ["--email", "ann@example.com"]))).toBe("Two-factor disabled for user\n");
    expect(await state()).toBe(TOTP_STATE.disabled);
    fails(s.cli("users two-factor enable", ["--email", "zed@example.com"]), 1, "no user with email zed@example.com");
    fails(s.cli("users two-factor enable", ["--email", "device-7"]), 1, "device-7 is a tunnel user (origin Tunnel Registration), which cannot log in");
    fails(s.cli("users two-factor disable"), 2, "give --email or --id");
    fails(spokes(["users", "two-factor", "toggle", "--config", s.config]), 2, 'unknown command "toggle"');
  });
});

describe("registration tokens", () => {
  let s: Server;
  beforeAll(async () => {
    s = await newServer();
  });
  const created: string[] = [];

  test("create prints the label, then the value on its own line", () => {
    for (const args of [["--description", "fleet A"], []]) {
      const out = lines(ok(s.cli("registration create", args)));
      expect(out).toHaveLength(2);
      expect(out[0]).toBe("Registration token:");
      expect(out[1]).toMatch(/^[0-9a-f]{48}$/);
      created.push(out[1]!);
    }
  });

  test("ls shows the first 14 characters of each value; --json has the API keys", () => {
    const rows = json(s.cli("registration ls", ["--json"]));
    expect(rows.map((r) => Object.keys(r))).toEqual([0, 1].map(() => ["id", "created", "modified", "active", "description", "value"]));
    expect(rows.map((r) => [r.value, r.description, r.active])).toEqual([
      [created[0], "fleet A", true],
      [created[1], "", true],
    ]);
    const cells = rows.map((r) => [r.id as string, formatDate(Date.parse(r.created as string)), r.description as string, `${(r.value as string).slice(0, 14)}....`, "true"]);
    expect(ok(s.cli("registration ls"))).toBe(`${renderTable(["ID", "Created", "Description", "Value", "Active"], cells)}\n2 registration tokens\n`);
    expect(ok(s.cli("registration ls"))).not.toContain(created[0]!);
  });

  test("rm --id deactivates one (kept, shown inactive); --all the rest", () => {
    const [first, second] = json(s.cli("registration ls", ["--json"]));
    expect(ok(s.cli("registration rm", ["--id", first!.id as string]))).toBe("Deactivated 1 registration token\n");
    expect(json(s.cli("registration ls", ["--json"])).map((r) => [r.id, r.active])).toEqual([
      [first!.id, false],
      [second!.id, true],
    ]);
    expect(lines(ok(s.cli("registration ls")))[3]).toEndWith("| false  |");
    expect(ok(s.cli("registration rm", ["--all"]))).toBe("Deactivated 1 registration token\n");
    expect(json(s.cli("registration ls", ["--json"])).map((r) => r.active)).toEqual([false, false]);
  });

  test("rm errors", () => {
    fails(s.cli("registration rm"), 2, "give --id ID or --all");
    fails(s.cli("registration rm", ["--id", "a".repeat(32), "--all"]), 2, "give either --id or --all, not both");
    fails(s.cli("registration rm", ["--id", "a".repeat(32)]), 1, `no registration token with id ${"a".repeat(32)}`);
    fails(s.cli("registration rm", ["--id", "not-an-id"]), 1, 'malformed token id "not-an-id" (expected 32 lowercase hex characters)');
  });
});

describe("auth tokens", () => {
  let s: Server;
  beforeAll(async () => {
    s = await newServer();
  });

  test("create prints the label and value, and creates the bound tunnel (state Init)", async () => {
    const out = lines(ok(s.cli("token create", ["--hostname", "dev.example.com"])));
    expect(out[0]).toBe("Client auth-token:");
    expect(out[1]).toMatch(/^[0-9a-f]{48}$/);
    expect(out).toHaveLength(2);
    const [token] = await s.db.select().from(apikeys).where(eq(apikeys.value, out[1]!));
    const [tunnel] = await s.db.select().from(tunnels).where(eq(tunnels.id, token!.tunnelId!));
    expect(tunnel).toMatchObject({ state: TUNNEL_STATE.init, hostname: "dev.example.com" });
    expect(lines(ok(s.cli("token create")))[0]).toBe("Client auth-token:");
    fails(s.cli("token create", ["--hostname", "not a host"]), 1, 'invalid hostname "not a host"');
  });

  test("ls cuts values to 16 characters unless --expand; --json has the token keys", () => {
    const rows = json(s.cli("token ls", ["--json"]));
    expect(rows).toHaveLength(2);
    expect(Object.keys(rows[0]!)).toEqual(["id", "created", "modified", "active", "description", "value", "user", "tunnel", "hostname"]);
    expect(rows.map((r) => [r.hostname, r.active, r.user])).toEqual([
      ["dev.example.com", true, ""],
      ["", true, ""],
    ]);
    const header = ["ID", "Created", "User", "Tunnel", "Value", "Active"];
    const cells = (expand: boolean) =>
      rows.map((r) => [r.id as string, formatDate(Date.parse(r.created as string)), "-", r.tunnel as string, expand ? (r.value as string) : `${(r.value as string).slice(0, 16)}...`, "true"]);
    expect(ok(s.cli("token ls"))).toBe(`${renderTable(header, cells(false))}\n2 tokens\n`);
    expect(ok(s.cli("token ls", ["--expand"]))).toBe(`${renderTable(header, cells(true))}\n2 tokens\n`);
  });

  test("rm --id deactivates the token (still listed, Active false), shuts its tunnel down and releases its ports", async () => {
    const [first, second] = json(s.cli("token ls", ["--json"]));
    await insertPort(s.db, 30001, first!.tunnel as string);
    await insertPort(s.db, 30002, second!.tunnel as string);
    expect(ok(s.cli("token rm", ["--id", first!.id as string]))).toBe("Deactivated 1 token\n");
    expect(json(s.cli("token ls", ["--json"])).map((r) => [r.id, r.active])).toEqual([
      [first!.id, false],
      [second!.id, true],
    ]);
    expect(json(s.cli("token ls", ["--all", "--json"])).map((r) => [r.id, r.active, r.tunnelState])).toEqual([
      [first!.id, false, "Shutdown"],
      [second!.id, true, "Init"],
    ]);
    const table = ok(s.cli("token ls"));
    expect(table).toContain(`| ${first!.id} |`);
    expect(table.split("\n").find((l) => l.includes(first!.id as string))).toMatch(/\| false +\|$/);
    expect(table).toEndWith("\n2 tokens\n");
    expect(ok(s.cli("token ls", ["--all"])).split("\n").find((l) => l.includes(first!.id as string))).toMatch(/\| false +\| Shutdown +\|$/);
    const [t] = await s.db.select().from(tunnels).where(eq(tunnels.id, first!.tunnel as string));
    expect(t!.state).toBe(TUNNEL_STATE.shutdown);
    expect((await s.db.select().from(ports)).map((p) => p.port)).toEqual([30002]);
  });

  test("rm errors, then rm --all", async () => {
    fails(s.cli("token rm", ["--id", "f".repeat(32)]), 1, `no token with id ${"f".repeat(32)}`);
    fails(s.cli("token rm", ["--id", "F".repeat(32)]), 1, `malformed token id "${"F".repeat(32)}" (expected 32 lowercase hex characters)`);
    fails(s.cli("token rm"), 2, "give --id ID or --all");
    expect(ok(s.cli("token rm", ["--all"]))).toBe("Deactivated 1 token\n");
    expect(json(s.cli("token ls", ["--json"])).map((r) => r.active)).toEqual([false, false]);
    expect(await s.db.select().from(ports)).toEqual([]);
  });
});

describe("admin API keys", () => {
  let s: Server;
  beforeAll(async () => {
    s = await newServer();
  });

  test("create shows the key once; ls shows a prefix only; rm revokes", () => {
    const out = lines(ok(s.cli("apikey create", ["--description", "ci"])));
    expect(out[0]).toBe("Admin API key:");
    expect(out[1]).toMatch(/^[0-9a-f]{48}$/);
    const [key] = json(s.cli("apikey ls", ["--json"]));
    expect(key).toEqual({ id: key!.id, created: key!.created, description: "ci", prefix: out[1]!.slice(0, 8), active: true, lastUsed: null });
    const table = ok(s.cli("apikey ls"));
    expect(table).toBe(
      `${renderTable(["ID", "Created", "Description", "Key", "Last Used", "Active"], [[key!.id as string, formatDate(Date.parse(key!.created as string)), "ci", `${out[1]!.slice(0, 8)}....`, "-", "true"]])}\n1 API key\n`,
    );
    expect(table).not.toContain(out[1]!);
    expect(ok(s.cli("apikey rm", ["--id", key!.id as string]))).toBe("Admin API key revoked\n");
    expect(json(s.cli("apikey ls", ["--json"]))[0]!.active).toBe(false);
    fails(s.cli("apikey rm", ["--id", "9".repeat(32)]), 1, `no API key with id ${"9".repeat(32)}`);
    fails(s.cli("apikey rm"), 2, "missing required argument: --id");
  });
});

describe("tunnels, ports and housekeeping on rows the server would write", () => {
  let s: Server;
  const id = (c: string) => c.repeat(32);
  const [T1, T2, T3, T5, T6] = ["1", "2", "3", "5", "6"].map(id) as [string, string, string, string, string];
  // Set again when the rows are written: the tests before this block can take over a
  // minute on a loaded machine, and the uptimes below are counted from it.
  let now = Date.now();
  const firstOfMonth = dayKey(now).endsWith("-01");

  beforeAll(async () => {
    now = Date.now();
    s = await newServer();
    const ann = await findOrCreateTunnelUser(s.db, "ann@example.com");
    await insertHeartbeat(s.db, "node-a", new Date(now));
    await insertTunnel(s.db, {
      id: T1,
      state: TUNNEL_STATE.online,
      userId: ann.id,
      hostname: "dev.example.com",
      address: "203.0.113.9",
      serverNode: "node-a",
      // Two hours and a minute: the printed uptime stays "2 hours" however long the file runs.
      connectedAt: new Date(now - 7_260_000),
      created: new Date("2020-03-20T17:28:00Z"),
    });
    await insertTunnel(s.db, { id: T2, state: TUNNEL_STATE.offline, created: new Date("2020-03-21T09:05:00Z") });
    await insertTunnel(s.db, { id: T3, state: TUNNEL_STATE.shutdown, token: "inactive", created: new Date("2020-03-22T10:00:00Z") });
    await insertPort(s.db, 30001, T1, ann.id);
    await insertPort(s.db, 30002, T2);
    await addBandwidth(s.db, [{ tunnelId: T1, service: "", bytesIn: 1_000_000, bytesOut: 200_000, at: now }]);
    // Earlier this month (there is no earlier day on the 1st).
    if (!firstOfMonth) await addBandwidth(s.db, [{ tunnelId: T1, service: "", bytesIn: 33_800_000, bytesOut: 0, at: Date.parse(`${dayKey(now).slice(0, 8)}01T00:00:00Z`) }]);
  });

  const t1Bandwidth = () => (firstOfMonth ? "1.20 MB / 1.20 MB" : "1.20 MB / 35.00 MB");
  const tunnelHeader = ["ID", "User", "Hostname", "Online", "Address", "Uptime", "Daily / Monthly", "Created"];
  const t1Row = () => [T1, "ann@example.com", "dev.example.com", "true", "203.0.113.9", "2 hours", t1Bandwidth(), "Mar 20, 2020 17:28"];
  const t2Row = [T2, "-", "-", "false", "-", "-", "0 B / 0 B", "Mar 21, 2020 09:05"];
  const t3Row = [T3, "-", "-", "false", "-", "-", "0 B / 0 B", "Mar 22, 2020 10:00"];

  test("tunnel ls: active tunnels; --online; --all adds shut-down ones", () => {
    expect(ok(s.cli("tunnel ls"))).toBe(`${renderTable(tunnelHeader, [t1Row(), t2Row])}\n2 tunnels\n`);
    expect(ok(s.cli("tunnel ls", ["--online"]))).toBe(`${renderTable(tunnelHeader, [t1Row()])}\n1 tunnel\n`);
    expect(ok(s.cli("tunnel ls", ["--all"]))).toBe(`${renderTable(tunnelHeader, [t1Row(), t2Row, t3Row])}\n3 tunnels\n`);
  });

  test("tunnel ls --json: the API tunnel object plus online and user", () => {
    const [t1] = json(s.cli("tunnel ls", ["--online", "--json"]));
    const monthly = firstOfMonth ? 1_200_000 : 35_000_000;
    expect(t1).toEqual({
      id: T1,
      userID: t1!.userID,
      created: "2020-03-20T17:28:00.000Z",
      lastActive: null,
      state: 2,
      uptime: t1!.uptime,
      bandwidth: { daily: 1_200_000, monthly },
      name: "",
      hostname: "dev.example.com",
      address: "203.0.113.9",
      version: "",
      os: "",
      arch: "",
      online: true,
      user: "ann@example.com",
      node: "", // the cluster node holding it ("" outside a cluster)
    });
    expect(t1!.userID).toMatch(/^[0-9a-f]{32}$/);
    expect(t1!.uptime as number).toBeGreaterThanOrEqual(7260);
    expect(t1!.uptime as number).toBeLessThan(7260 + 3000);
    expect(json(s.cli("tunnel ls", ["--all", "--json"])).map((t) => [t.id, t.state, t.online])).toEqual([
      [T1, 2, true],
      [T2, 3, false],
      [T3, 4, false],
    ]);
  });

  test("port ls with each tunnel's online state, uptime and bandwidth", () => {
    const header = ["Port No.", "User", "Tunnel ID", "Tunnel Online", "Tunnel Uptime", "Daily / Monthly", "Private"];
    const rows = [
      ["30001", "ann@example.com", T1, "true", "2 hours", t1Bandwidth(), "false"],
      ["30002", "-", T2, "false", "-", "0 B / 0 B", "false"],
    ];
    expect(ok(s.cli("port ls"))).toBe(`${renderTable(header, rows)}\n2 port allocations\n`);
    const ports = json(s.cli("port ls", ["--json"]));
    expect(ports.map((p) => Object.keys(p))).toEqual([0, 1].map(() => ["port", "tunID", "user", "online", "uptime", "bandwidth", "private", "meshAllow"]));
    expect(ports[1]).toEqual({ port: 30002, tunID: T2, user: "", online: false, uptime: 0, bandwidth: { daily: 0, monthly: 0 }, private: false, meshAllow: [] });
    expect(ports[0]).toMatchObject({ port: 30001, tunID: T1, user: "ann@example.com", online: true });
  });

  test("clean --check lists each issue, changes nothing and exits 1; clean fixes them; then 0", async () => {
    expect(ok(s.cli("clean", ["--check"]))).toBe("Issues Found (tunnels + ports): 0\n");
    // A crash left T5 online on a server node that is gone; T6's token was deactivated
    // behind the server's back; ports point at a shut-down tunnel and outside portRange.
    await insertHeartbeat(s.db, "node-gone", new Date(now - 5 * 60_000));
    await insertTunnel(s.db, { id: T5, state: TUNNEL_STATE.online, serverNode: "node-gone" });
    await insertTunnel(s.db, { id: T6, state: TUNNEL_STATE.offline, token: "inactive" });
    await insertPort(s.db, 30003, T3);
    await insertPort(s.db, 30004, T6);
    await insertPort(s.db, 40000, T2);

    const check = s.cli("clean", ["--check"]);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 1, stderr: "" });
    expect(lines(check.stdout)).toEqual([
      `tunnel ${T5} is marked online but its server node node-gone has no heartbeat in the last 60 s: mark offline`,
      `tunnel ${T6} (Offline) is still active but its auth token is inactive: shut down`,
      `port 30003 is allocated to shutdown tunnel ${T3}: release`,
      `port 30004 is allocated to tunnel ${T6} whose auth token is inactive: release`,
      "port 40000 is outside the port range 30000-30099: release",
      "Issues Found (tunnels + ports): 5",
    ]);
    const state = async (t: string) => (await s.db.select().from(tunnels).where(eq(tunnels.id, t)))[0]!.state;
    const allocated = async () => (await s.db.select().from(ports).orderBy(ports.port)).map((p) => p.port);
    expect([await state(T5), await state(T6)]).toEqual([TUNNEL_STATE.online, TUNNEL_STATE.offline]);
    expect(await allocated()).toEqual([30001, 30002, 30003, 30004, 40000]);

    expect(ok(s.cli("clean"))).toBe("Issues Fixed (tunnels + ports): 5\n");
    expect([await state(T1), await state(T5), await state(T6)]).toEqual([TUNNEL_STATE.online, TUNNEL_STATE.offline, TUNNEL_STATE.shutdown]);
    expect(await allocated()).toEqual([30001, 30002]);
    expect(ok(s.cli("clean", ["--check"]))).toBe("Issues Found (tunnels + ports): 0\n");
    expect(ok(s.cli("clean"))).toBe("Issues Fixed (tunnels + ports): 0\n");
  });

  test("an empty port table still prints its header and count", async () => {
    const empty = await newServer();
    expect(ok(empty.cli("port ls"))).toBe(
      [
        "+----------+------+-----------+---------------+---------------+-----------------+---------+",
        "| Port No. | User | Tunnel ID | Tunnel Online | Tunnel Uptime | Daily / Monthly | Private |",
        "+----------+------+-----------+---------------+---------------+-----------------+---------+",
        "0 port allocations",
        "",
      ].join("\n"),
    );
    expect(ok(empty.cli("tunnel ls", ["--json"]))).toBe("[]\n");
  });
});

describe("cluster ls", () => {
  test("nodes from the heartbeat rows: advertise, heartbeat age, live or dead, tunnels held; --json", async () => {
    const s = await newServer();
    expect(ok(s.cli("cluster ls"))).toBe(
      [
        "+------+-----------+-----------+------+---------+---------+",
        "| Node | Advertise | Heartbeat | Live | Tunnels | Started |",
        "+------+-----------+-----------+------+---------+---------+",
        "0 nodes",
        "",
      ].join("\n"),
    );
    const now = Date.now();
    const store = createClusterStore(s.db, { now: () => now - 2000 });
    await store.heartbeat({ nodeId: "node-a", advertise: "10.0.0.1:443", fingerprint: `sha256:${"ab".repeat(32)}`, startedAt: Date.parse("2030-01-02T03:04:05Z") });
    await createClusterStore(s.db, { now: () => now - 60_000 }).heartbeat({ nodeId: "node-b", advertise: "10.0.0.2:443", fingerprint: "", startedAt: now - 90_000 });
    await insertHeartbeat(s.db, "standalone", new Date(now - 5000)); // a single-node server: live for 60 s
    const t = await insertTunnel(s.db, { state: TUNNEL_STATE.online, serverNode: "node-a" });
    await store.saveLocation({ tunnelId: t, nodeId: "node-a", epoch: "e", userId: null, hostname: "", https: [], ports: [] });

    const out = lines(ok(s.cli("cluster ls")));
    expect(out[1]).toMatch(/^\| Node +\| Advertise +\| Heartbeat +\| Live +\| Tunnels +\| Started +\|$/);
    expect(out[3]).toMatch(/^\| node-a +\| 10\.0\.0\.1:443 \| \d+\.\d s ago +\| true +\| 1 +\| Jan 2, 2030 03:04 +\|$/);
    expect(out[4]).toMatch(/^\| node-b +\| 10\.0\.0\.2:443 \| 6\d\.\d s ago +\| false \| 0 +\| /);
    expect(out[5]).toMatch(/^\| standalone \| - +\| \d+\.\d s ago +\| true +\| 0 +\| /);
    expect(out.at(-1)).toBe("3 nodes");
    const nodes = json(s.cli("cluster ls", ["--json"]));
    expect(nodes.map((n) => Object.keys(n))[0]).toEqual(["nodeId", "advertise", "fingerprint", "started", "heartbeat", "heartbeatAge", "live", "tunnels"]);
    expect(nodes[0]).toMatchObject({ nodeId: "node-a", advertise: "10.0.0.1:443", fingerprint: `sha256:${"ab".repeat(32)}`, started: "2030-01-02T03:04:05.000Z", live: true, tunnels: 1 });
    expect(nodes[0]!.heartbeatAge as number).toBeGreaterThanOrEqual(2);
    expect(nodes[0]!.heartbeatAge as number).toBeLessThan(30);
    expect(nodes.map((n) => [n.nodeId, n.live])).toEqual([["node-a", true], ["node-b", false], ["standalone", true]]);
  });
});

describe("backup", () => {
  test("--out copies the database to a new file that the CLI can use; bad --out is an error", async () => {
    const s = await newServer();
    ok(s.cli("token create"));
    const copyDir = tempDir();
    const out = join(copyDir, "copy.db");
    expect(ok(s.cli("backup", ["--out", out]))).toBe(`${out}\n`);
    const restored = writeServerConfig(copyDir, { database: { path: out } });
    expect(json(spokes(["token", "ls", "--json", "--config", restored]))).toEqual(json(s.cli("token ls", ["--json"])));
    fails(s.cli("backup", ["--out", out]), 1, `${out} already exists: choose another file or remove it`);
    fails(s.cli("backup", ["--out="]), 2, "--out needs a file name");
  }, 60_000);
});

// Runs last: every leaf of the spokes command tree (but the server itself) was exercised.
test("every admin command is covered by this file", async () => {
  type Cmd = { subCommands?: unknown };
  const resolve = async (v: unknown) => (typeof v === "function" ? await v() : await v);
  async function leaves(cmd: Cmd, path: string[]): Promise<string[]> {
    const subs = (await resolve(cmd.subCommands)) as Record<string, unknown> | undefined;
    if (!subs || !Object.keys(subs).length) return [path.join(" ")];
    const out: string[] = [];
    for (const [name, sub] of Object.entries(subs)) out.push(...(await leaves((await resolve(sub)) as Cmd, [...path, name])));
    return out;
  }
  // service and completion have their own files (service.test.ts, completion.test.ts).
  const all = (await leaves(spokesRoot as Cmd, [])).filter((p) => p !== "serve" && p !== "start" && !/^(service|completion)\b/.test(p));
  expect(all.filter((p) => !covered.has(p))).toEqual([]);
  expect([...covered].sort()).toEqual(all.sort());
});
