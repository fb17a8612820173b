// `spokes completion bash|zsh|fish` (and pktriot's): a completion script generated from the
// executable's own command tree, so it never lists a command that does not exist. The root
// passes itself in (completionCommand(root)) so pktriot does not bundle spokes' tree.
import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { completionScript, COMPLETION_SHELLS, type CompletionShell } from "../lib/completion/scripts.ts";
import { completionTree, type CompletionFlag } from "../lib/completion/tree.ts";
import { UserError } from "../lib/errors.ts";
import { LOG_LEVELS } from "./_logging.ts";

/** The flags runCli takes out of argv before citty sees them (commands/_main.ts). */
const GLOBAL_FLAGS: CompletionFlag[] = [
  { name: "--config", description: "Path of the configuration file", takesValue: true, files: true },
  { name: "--log-level", description: "Log level", takesValue: true, values: Object.keys(LOG_LEVELS) },
  { name: "--log-format", description: "Log format", takesValue: true, values: ["text", "json"] },
];

export function completionCommand(root: () => CommandDef<ArgsDef>) {
  return defineCommand({
    meta: { name: "completion", description: "Print a shell completion script (bash, zsh or fish)" },
    args: {
      shell: { type: "positional", required: true, description: `Shell: ${COMPLETION_SHELLS.join(", ")}` },
    },
    async run({ args }) {
      const shell = String(args.shell).trim().toLowerCase();
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) throw new UserError(`unknown shell ${JSON.stringify(args.shell)} (supported: ${COMPLETION_SHELLS.join(", ")})`, 2);
      const cmd = root();
      const name = String(((typeof cmd.meta === "function" ? await cmd.meta() : await cmd.meta) ?? {}).name);
      process.stdout.write(completionScript(shell as CompletionShell, name, await completionTree(cmd, GLOBAL_FLAGS)));
    },
  });
}
