/**
 * The DNS-01 challenge through an operator's command (`acme.dnsHook`), as lego's and
 * Caddy's "exec" DNS providers do: `HOOK present <fqdn> <value>` publishes the TXT
 * record `<fqdn>` (`_acme-challenge.<domain>`) with `<value>` and returns once it is
 * visible to the CA; `HOOK cleanup <fqdn> <value>` removes that value. Both values of a
 * domain + wildcard order live at the same name at once, so `present` adds a value and
 * `cleanup` removes only its own.
 */
import { errorMessage } from "../errors.ts";

const HOOK_TIMEOUT_MS = 5 * 60_000;
/** Characters of the hook's stderr kept for the error line. */
const STDERR_TAIL = 300;
const STDERR_GRACE_MS = 200;

export function dnsChallengeName(domain: string): string {
  return `_acme-challenge.${domain.replace(/^\*\./, "")}`;
}

/** Runs the hook; rejects with one line (exit code or signal, the end of its stderr) when it fails. */
export async function runDnsHook(hook: string, action: "present" | "cleanup", fqdn: string, value: string, timeoutMs = HOOK_TIMEOUT_MS): Promise<void> {
  let proc;
  try {
    proc = Bun.spawn([hook, action, fqdn, value], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  } catch (err) {
    throw new Error(`acme.dnsHook ${hook} cannot be started: ${errorMessage(err)}`);
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const stderrText = new Response(proc.stderr).text();
  const code = await proc.exited;
  clearTimeout(timer);
  // A child the hook left running may hold its stderr open: what arrived by now is enough.
  const stderr = await Promise.race([stderrText, Bun.sleep(STDERR_GRACE_MS).then(() => "")]);
  if (code === 0) return;
  const why = proc.signalCode ? `was killed (${proc.signalCode}${proc.signalCode === "SIGKILL" ? `, over ${timeoutMs / 1000} s?` : ""})` : `exited with ${code}`;
  const tail = stderr.trim().replace(/\s+/g, " ").slice(-STDERR_TAIL);
  throw new Error(`acme.dnsHook ${action} ${fqdn} ${why}${tail ? `: ${tail}` : ""}`);
}
