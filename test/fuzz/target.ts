// What a fuzz target is, and the one error that means "crash".
import type { Rng } from "./rng.ts";

/** A broken invariant (unbounded buffer, two verdicts, chunking changed the result, ...). */
export class InvariantError extends Error {
  override name = "InvariantError";
}

export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new InvariantError(message);
}

export interface FuzzTarget {
  name: string;
  /** Valid messages the mutations start from. */
  seeds: Uint8Array[];
  /** Target-specific hostile inputs (huge hostnames, extreme lengths); used for some inputs. */
  generate?(rnd: Rng): Uint8Array;
  /**
   * Feeds one input. Returns a short outcome label for the report (e.g. "error:BAD_LENGTH").
   * Documented refusals are outcomes; anything thrown is a crash.
   */
  run(input: Uint8Array, rnd: Rng): string | Promise<string>;
}

/** Lets promise callbacks (async verdicts, dials) run. */
export async function settle(rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) await null;
}
