/**
 * The `dial` a SOCKS server is given: resolve the destination by policy
 * (resolve.ts), then open it directly over TCP or through a tunnel. The allow-list
 * is read per request so dashboard changes apply without a restart.
 */
import { dialTcp } from "../net/dial-tcp.ts";
import type { AllowList } from "./allow-list.ts";
import type { DialResult, SocksTarget } from "./handshake.ts";
import { Reply } from "./protocol.ts";
import { type Destination, type DestinationRequest, resolveDestination } from "./resolve.ts";

export interface SocksDialerOptions<R> {
  allowList: AllowList | (() => AllowList);
  lookup?: (hostname: string) => Promise<string[]>;
  isTunnelService?: (target: DestinationRequest) => R | null | undefined | Promise<R | null | undefined>;
  /** Opens a stream to the service behind a tunnel. */
  dialTunnel?: (route: R, target: DestinationRequest) => Promise<DialResult>;
  /** Default: dialDirectTcp. Always given the checked IP, never a name. */
  dialDirect?: (host: string, port: number) => Promise<DialResult>;
  /** Every decision, for logs. */
  onDecision?: (target: SocksTarget, destination: Destination<R>) => void;
}

export function createSocksDialer<R>(opts: SocksDialerOptions<R>): (target: SocksTarget) => Promise<DialResult> {
  const dialDirect = opts.dialDirect ?? dialDirectTcp;
  return async (target) => {
    const allowList = typeof opts.allowList === "function" ? opts.allowList() : opts.allowList;
    const destination = await resolveDestination(target, {
      allowList,
      lookup: opts.lookup,
      isTunnelService: opts.dialTunnel ? opts.isTunnelService : undefined,
    });
    opts.onDecision?.(target, destination);
    switch (destination.kind) {
      case "refused":
        return { ok: false, reply: destination.reply, reason: destination.reason };
      case "direct":
        return dialDirect(destination.host, destination.port);
      case "tunnel":
        return opts.dialTunnel!(destination.route, { host: destination.host, port: destination.port });
    }
  };
}

/** errno names as Bun reports them in `error.code`. */
const REPLY_FOR_CODE: Record<string, number> = {
  ECONNREFUSED: Reply.CONNECTION_REFUSED,
  ENETUNREACH: Reply.NETWORK_UNREACHABLE,
  ENETDOWN: Reply.NETWORK_UNREACHABLE,
  EHOSTUNREACH: Reply.HOST_UNREACHABLE,
  EHOSTDOWN: Reply.HOST_UNREACHABLE,
  ETIMEDOUT: Reply.HOST_UNREACHABLE,
  ENOTFOUND: Reply.HOST_UNREACHABLE,
  EAI_AGAIN: Reply.HOST_UNREACHABLE,
  EADDRNOTAVAIL: Reply.HOST_UNREACHABLE,
  EACCES: Reply.NOT_ALLOWED,
  EPERM: Reply.NOT_ALLOWED,
};

/** The SOCKS reply code for a failed connect (RFC 1928 §6). */
export function replyForConnectError(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === "string" && REPLY_FOR_CODE[code]) || Reply.GENERAL_FAILURE;
}

/** dialTcp with a failed connect answered as a SOCKS reply code; a timeout is "host unreachable". */
async function dialDirectTcp(host: string, port: number): Promise<DialResult> {
  const r = await dialTcp(host, port);
  return r.ok ? r : { ok: false, reply: replyForConnectError(r.error), reason: r.error.message };
}
