// The two questions `configure` may ask on a TTY. Lines are read with Bun's console
// iterator in the terminal's cooked mode (the terminal echoes and handles backspace);
// consola's text prompt returns undefined under Bun (../shared/NOTES-stack.md).
import { UserError } from "../../lib/errors.ts";

// One iterator for the whole process: leaving a `for await (... of console)` loop
// releases stdin, and a second loop then never sees the next line (the process just
// ends, with exit code 0, in the middle of the command).
let lines: AsyncIterator<string> | undefined;

async function askLine(question: string): Promise<string> {
  process.stderr.write(question);
  lines ??= console[Symbol.asyncIterator]();
  const next = await lines.next();
  if (next.done) throw new UserError("no answer (end of input)");
  return next.value.trim();
}

export async function askConfigPath(candidates: string[]): Promise<string> {
  const menu = ["Choose a path to the configuration file:", ...candidates.map((c, i) => `[${i + 1}] ${c}`), ""].join("\n");
  process.stderr.write(menu);
  for (let attempt = 0; attempt < 3; attempt++) {
    const answer = await askLine("Input selection [#]: ");
    const n = Number(answer);
    if (Number.isInteger(n) && n >= 1 && n <= candidates.length) return candidates[n - 1]!;
    process.stderr.write(`Please enter a number from 1 to ${candidates.length}.\n`);
  }
  throw new UserError("no valid configuration path chosen");
}

export async function askTrustServer(fingerprint: string, subject: string): Promise<boolean> {
  process.stderr.write(`The server's certificate is not trusted. Fingerprint: ${fingerprint}\n  (certificate subject: ${subject})\n`);
  const answer = await askLine("Trust this server? [y/N] ");
  return /^y(es)?$/i.test(answer);
}
