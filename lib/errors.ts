/**
 * An error meant for the person at the terminal or the API caller: its message is
 * shown as it is (one line), never with a stack. `exitCode` 1 is a failure or bad
 * value; 2 is reserved for command-line usage errors (SPEC 2).
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
    this.name = "UserError";
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0] || err.name;
  return String(err);
}
