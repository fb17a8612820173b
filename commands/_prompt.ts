// Password input. consola has no masked prompt, and under Bun its text prompt misbehaves
// without a TTY (../shared/NOTES-stack.md), so this reads raw keys on a TTY and the first
// line of stdin otherwise.
import { UserError } from "../lib/errors.ts";

let stdinLines: string[] | undefined;

/** Successive lines of a piped stdin (read once, handed out in order). */
async function nextStdinLine(): Promise<string> {
  stdinLines ??= (await Bun.stdin.text()).split(/\r?\n/);
  return stdinLines.shift() ?? "";
}

/**
 * Keys that arrived after the Enter that ended the previous prompt. A paste, or typing
 * ahead, delivers "pw\rpw\r" in one chunk: the second line belongs to "Confirm:".
 */
let typedAhead = "";

function readMasked(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    // Raw mode first: a key typed as soon as the prompt shows must not be echoed in clear.
    stdin.setRawMode(true);
    stdin.resume();
    process.stderr.write(prompt);
    let value = "";
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      const chars = [...chunk.toString()];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (ch === "\r" || ch === "\n") {
          const next = ch === "\r" && chars[i + 1] === "\n" ? i + 2 : i + 1;
          typedAhead = chars.slice(next).join("");
          return done();
        }
        if (ch === "\u0003") return done(new UserError("cancelled"));
        if (ch === "\u007f" || ch === "\b") {
          if (value.length) {
            value = value.slice(0, -1);
            process.stderr.write("\b \b");
          }
        } else if (ch >= " ") {
          value += ch;
          process.stderr.write("*");
        }
      }
    };
    stdin.on("data", onData);
    if (typedAhead) {
      const pending = typedAhead;
      typedAhead = "";
      onData(pending);
    }
  });
}

/**
 * Asks for a new password twice on a TTY; with `--password-stdin` or piped input reads
 * one line. Rejects empty and mismatched passwords.
 */
export async function readNewPassword(opts: { fromStdin: boolean; prompt?: string }): Promise<string> {
  if (opts.fromStdin || !process.stdin.isTTY) {
    const pw = await nextStdinLine();
    if (!pw) throw new UserError("password must not be empty");
    // Piped without --password-stdin: a second line, when present, is the confirmation.
    if (!opts.fromStdin) {
      const confirm = await nextStdinLine();
      if (confirm && confirm !== pw) throw new UserError("passwords do not match");
    }
    return pw;
  }
  const pw = await readMasked(opts.prompt ?? "Password: ");
  if (!pw) throw new UserError("password must not be empty");
  const confirm = await readMasked("Confirm: ");
  if (pw !== confirm) throw new UserError("passwords do not match");
  return pw;
}
