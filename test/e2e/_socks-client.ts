// A hand-written SOCKS5 client (RFC 1928 / RFC 1929) for the e2e tests: it shows the reply
// codes that curl hides behind its exit code 97.
import type { RawClient } from "../unit/socks/raw-client.ts";

const enc = new TextEncoder();

/** Greeting (+ username/password), then a request; resolves with the reply code (or the auth failure). */
export async function socksRequest(
  c: RawClient,
  target: { host: string; port: number },
  opts: { user?: string; password?: string; command?: number } = {},
): Promise<{ stage: "method" | "auth" | "reply"; code: number }> {
  const withAuth = opts.password !== undefined;
  await c.write(Uint8Array.of(5, 1, withAuth ? 2 : 0));
  const method = await c.read(2);
  if (method[1] === 0xff) return { stage: "method", code: 0xff };
  if (withAuth) {
    const u = enc.encode(opts.user ?? "any");
    const p = enc.encode(opts.password);
    await c.write(Uint8Array.of(1, u.length, ...u, p.length, ...p));
    const status = await c.read(2);
    if (status[1] !== 0) return { stage: "auth", code: status[1]! };
  }
  const host = enc.encode(target.host);
  await c.write(Uint8Array.of(5, opts.command ?? 1, 0, 3, host.length, ...host, target.port >> 8, target.port & 255));
  const head = await c.read(5);
  // The rest of BND.ADDR: IPv4 4 bytes (one already read), IPv6 16, a name its length byte.
  const rest = head[3] === 1 ? 3 : head[3] === 4 ? 15 : head[4]!;
  await c.read(rest + 2);
  return { stage: "reply", code: head[1]! };
}
