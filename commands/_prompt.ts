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

function readMasked(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = "";
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
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
