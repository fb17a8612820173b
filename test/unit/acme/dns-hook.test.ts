// The DNS-01 hook command: called with `present|cleanup <fqdn> <value>`, and a failure
// is one line naming the action, the record, the exit and the end of the hook's stderr.
import { expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dnsChallengeName, runDnsHook } from "../../../lib/acme/dns-hook.ts";
import { tempDir } from "../../helpers.ts";

function hook(body: string): { path: string; dir: string } {
  const dir = tempDir("spokes-dns-hook-");
  const path = join(dir, "hook.sh");
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, dir };
}

test("the record name of a domain and of its wildcard is the same", () => {
  expect(dnsChallengeName("spokes.example.com")).toBe("_acme-challenge.spokes.example.com");
  expect(dnsChallengeName("*.spokes.example.com")).toBe("_acme-challenge.spokes.example.com");
});

test("the hook gets the action, the record name and the value as arguments", async () => {
  const h = hook(`printf '%s|' "$@" > "$(dirname "$0")/args"`);
  await runDnsHook(h.path, "present", "_acme-challenge.spokes.test", "v4lue-with spaces");
  expect(readFileSync(join(h.dir, "args"), "utf8")).toBe("present|_acme-challenge.spokes.test|v4lue-with spaces|");
});

test("a failing hook rejects with its exit code and the end of its stderr", async () => {
  const h = hook(`echo "provider said: 403 forbidden" >&2\nexit 3`);
  await expect(runDnsHook(h.path, "cleanup", "_acme-challenge.spokes.test", "v")).rejects.toThrow(
    "acme.dnsHook cleanup _acme-challenge.spokes.test exited with 3: provider said: 403 forbidden",
  );
});

test("a hook that hangs is killed at the timeout", async () => {
  const h = hook("sleep 30");
  await expect(runDnsHook(h.path, "present", "_acme-challenge.spokes.test", "v", 200)).rejects.toThrow("was killed (SIGKILL, over 0.2 s?)");
});

test("a hook that cannot be started says so", async () => {
  await expect(runDnsHook("/nonexistent/hook", "present", "_acme-challenge.spokes.test", "v")).rejects.toThrow("acme.dnsHook /nonexistent/hook cannot be started");
});
