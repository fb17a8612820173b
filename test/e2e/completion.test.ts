// `spokes completion bash|zsh|fish` and pktriot's, from the real dist/ executables, loaded
// into the real shells: bash through COMP_WORDS/COMP_CWORD and the completion function,
// zsh with compinit and stand-ins for its _describe/compadd output builtins, fish through
// `complete -C`. The expected subcommands come from walking the citty tree in-process, so a
// script that lists a command that does not exist (or misses one) fails.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef, CommandDef } from "citty";
import { pktriot as pktriotRoot } from "../../commands/pktriot.ts";
import { spokes as spokesRoot } from "../../commands/spokes.ts";
import { PKTRIOT_BIN, SPOKES_BIN, run, tempDir } from "../helpers.ts";

setDefaultTimeout(30_000);

const has = (shell: string) => Bun.spawnSync(["sh", "-c", `command -v ${shell}`]).exitCode === 0;

async function resolve<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

/** Every command path of a tree with its subcommand names (lazy ones loaded). */
async function commandPaths(cmd: CommandDef<ArgsDef>, path: string[] = []): Promise<{ path: string[]; subs: string[] }[]> {
  const subs = Object.entries((await resolve(cmd.subCommands)) ?? {});
  const out = [{ path, subs: subs.map(([n]) => n) }];
  for (const [name, sub] of subs) out.push(...(await commandPaths((await resolve(sub)) as CommandDef<ArgsDef>, [...path, name])));
  return out;
}

function script(bin: string, shell: string): string {
  const r = run(bin, ["completion", shell]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const file = join(tempDir(), `completion.${shell}`);
  writeFileSync(file, r.stdout);
  return file;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Completions bash offers for a command line whose last word is being completed. */
function bashComplete(file: string, fn: string, words: string[]): string[] {
  const lines = words.map((w) => shq(w)).join(" ");
  const r = Bun.spawnSync(["bash", "--norc", "--noprofile", "-c", `source ${shq(file)}\nCOMP_WORDS=(${lines}); COMP_CWORD=${words.length - 1}\n${fn}\nprintf '%s\\n' "\${COMPREPLY[@]}"`], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  return r.stdout.toString().split("\n").filter(Boolean);
}

const roots = [
  { name: "spokes", bin: SPOKES_BIN, root: spokesRoot },
  { name: "pktriot", bin: PKTRIOT_BIN, root: pktriotRoot },
] as const;

describe("bash", () => {
  test("spokes tok<TAB> completes to token, spokes token <TAB> lists its subcommands", () => {
    const file = script(SPOKES_BIN, "bash");
    expect(bashComplete(file, "_spokes_completion", ["spokes", "tok"])).toEqual(["token"]);
    expect(bashComplete(file, "_spokes_completion", ["spokes", "token", ""])).toEqual(["create", "ls", "rm"]);
    expect(bashComplete(file, "_spokes_completion", ["spokes", "users", "two-factor", ""])).toEqual(["enable", "disable", "reset"]);
    expect(bashComplete(file, "_spokes_completion", ["spokes", "token", "ls", "--"])).toEqual(["--config", "--json", "--expand", "--all", "--log-level", "--log-format", "--help"]);
    expect(bashComplete(file, "_spokes_completion", ["spokes", "--log-format", ""])).toEqual(["text", "json"]);
    // A flag's value is not a subcommand: `--config token` leaves the root in place.
    expect(bashComplete(file, "_spokes_completion", ["spokes", "--config", "token", "reg"])).toEqual(["registration"]);
    expect(bashComplete(file, "_spokes_completion", ["spokes", "--config", "/e"])).toContain("/etc");
    expect(bashComplete(file, "_spokes_completion", ["spokes", "serv"]).sort()).toEqual(["serve", "service"]);
    expect(bashComplete(file, "_spokes_completion", ["spokes", "service", ""])).toEqual(["install", "uninstall", "status"]);
  });

  test("pktriot: subcommands reached through an alias (route = tunnel)", () => {
    const file = script(PKTRIOT_BIN, "bash");
    expect(bashComplete(file, "_pktriot_completion", ["pktriot", "route", "http", ""])).toEqual(["add", "ls", "rm"]);
    expect(bashComplete(file, "_pktriot_completion", ["pktriot", "tunnel", "http", "add", "--do"])).toEqual(["--domain"]);
  });

  for (const { name, bin, root } of roots) {
    test(`${name}: every command of the citty tree completes to exactly its subcommands`, async () => {
      const file = script(bin, "bash");
      const paths = await commandPaths(root);
      expect(paths.length).toBeGreaterThan(10);
      for (const { path, subs } of paths) {
        expect({ path, offered: bashComplete(file, `_${name}_completion`, [name, ...path, ""]) }).toEqual({ path, offered: subs });
      }
    });
  }
});

describe.skipIf(!has("zsh"))("zsh", () => {
  for (const { name, bin } of roots) {
    test(`${name}: the script parses, registers with compdef and offers subcommands`, () => {
      const file = script(bin, "zsh");
      expect(Bun.spawnSync(["zsh", "-n", file], { stderr: "pipe" }).stderr.toString()).toBe("");
      // _describe and compadd print what they were given: the completion system's own output needs a terminal.
      const probe = `autoload -U compinit && compinit -u -D
source ${shq(file)}
print -r -- "registered=\${_comps[${name}]}"
_describe() { print -l -- "\${(@P)\${@[-1]}}" }
compadd() { print -l -- "\${(@P)\${@[-1]}}" }
_files() { print FILES }
words=(${name} version ""); CURRENT=3; _${name}
words=(${name} tunnel ""); CURRENT=3; _${name}
words=(${name} --log-format ""); CURRENT=3; _${name}
words=(${name} --config ""); CURRENT=3; _${name}`;
      const r = Bun.spawnSync(["zsh", "-f", "-c", probe], { stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      const out = r.stdout.toString();
      expect(out).toContain(`registered=_${name}\n`);
      expect(out).toContain(name === "spokes" ? "ls:List active tunnels\n" : "http:HTTP/HTTPS traffic rules\ntcp:TCP port allocations and forwards\n");
      expect(out).toContain("text\njson\nFILES\n");
    });
  }
});

describe.skipIf(!has("fish"))("fish", () => {
  for (const { name, bin } of roots) {
    test(`${name}: the script parses and complete -C offers subcommands, flags and values`, () => {
      const file = script(bin, "fish");
      expect(Bun.spawnSync(["fish", "--no-execute", file], { stderr: "pipe" }).exitCode).toBe(0);
      const complete = (line: string) => {
        const r = Bun.spawnSync(["fish", "--no-config", "-c", `source ${shq(file)}; complete -C ${shq(line)}`], { stdout: "pipe", stderr: "pipe" });
        expect(r.stderr.toString()).toBe("");
        return r.stdout.toString().split("\n").filter(Boolean).map((l) => l.split("\t")[0]);
      };
      expect(complete(`${name} vers`)).toEqual(["version"]);
      expect(complete(`${name} service `).sort()).toEqual(["install", "status", "uninstall"]);
      expect(complete(`${name} service install --dr`)).toEqual(["--dry-run"]);
      expect(complete(`${name} --log-format `).sort()).toEqual(["json", "text"]);
    });
  }
});

test("an unknown shell is a usage error on one line", () => {
  for (const bin of [SPOKES_BIN, PKTRIOT_BIN]) {
    const r = run(bin, ["completion", "ksh"]);
    expect(r.stderr).toBe('error: unknown shell "ksh" (supported: bash, zsh, fish)\n');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
  }
});
