/**
 * The `dial` a SOCKS server is given: resolve the destination by policy
 * (resolve.ts), then open it directly over TCP or through a tunnel. The allow-list
 * is read per request so dashboard changes apply without a restart.
 */
import type { AllowList } from "./allow-list.ts";
import { dialTcp } from "./dial-tcp.ts";
import type { DialResult, SocksTarget } from "./handshake.ts";
import { type Destination, type DestinationRequest, resolveDestination } from "./resolve.ts";

export interface SocksDialerOptions<R> {
  allowList: AllowList | (() => AllowList);
  lookup?: (hostname: string) => Promise<string[]>;
  isTunnelService?: (target: DestinationRequest) => R | null | undefined | Promise<R | null | undefined>;
  /** Opens a stream to the service behind a tunnel. */
  dialTunnel?: (route: R, target: DestinationRequest) => Promise<DialResult>;
  /** Default: dialTcp. Always given the checked IP, never a name. */
  dialDirect?: (host: string, port: number) => Promise<DialResult>;
  /** Every decision, for logs. */
  onDecision?: (target: SocksTarget, destination: Destination<R>) => void;
}

export function createSocksDialer<R>(opts: SocksDialerOptions<R>): (target: SocksTarget) => Promise<DialResult> {
  const dialDirect = opts.dialDirect ?? ((host: string, port: number) => dialTcp(host, port));
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
