// Wires the on-demand certificate engine (lib/acme/on-demand.ts) into a running server:
// admission from the live tunnel routes, orders from the configured ACME CA, and the
// certificates into the front door's per-name store, which the in-process TLS
// termination selects from on each handshake.
import type { ServerConfig } from "../../lib/config/server-config.ts";
import type { ChallengeStore } from "../../lib/acme/challenge-store.ts";
import { createOnDemandCertificates, type OnDemandCertificates } from "../../lib/acme/on-demand.ts";
import type { OrderLimiter } from "../../lib/acme/order-limiter.ts";
import { createAcmeOrderer } from "../../lib/acme/order.ts";
import { createOnDemandAdmission, isUnderDomain } from "../../lib/edge/on-demand-admission.ts";
import type { Logger } from "../../lib/log.ts";
import type { SniCertificates } from "../../lib/tls/sni-certificates.ts";
import type { RouteTable } from "../../lib/tunnel/server/registry.ts";

export interface OnDemandWiring {
  config: ServerConfig;
  /** `<dataPath>/acme`. */
  dir: string;
  challenges: ChallengeStore;
  caPem?: string;
  /** The live routes (local, and in cluster mode the other nodes'): a name qualifies wherever its tunnel is connected. */
  routes: RouteTable;
  /** The front door's certificates by name. */
  sni(): SniCertificates;
  /** Kept across restarts of the engine (a settings change must not reset the budget). */
  limiter: OrderLimiter;
  onOrder(outcome: "success" | "failure"): void;
  log: Logger;
}

export function startOnDemandCertificates(w: OnDemandWiring): OnDemandCertificates {
  const domain = w.config.domain;
  return createOnDemandCertificates({
    dir: w.dir,
    // With a DNS-01 hook the server's own certificate is a wildcard that covers every tunnel name.
    handles: (name) => !w.config.acme.dnsHook && isUnderDomain(name, domain),
    admit: createOnDemandAdmission({ domain: () => domain, route: (name) => w.routes.http(name) }),
    order: createAcmeOrderer({ directoryUrl: w.config.acme.directoryUrl, email: w.config.acme.email, dir: w.dir, challenges: w.challenges, caPem: w.caPem }),
    limiter: w.limiter,
    onCertificate: (name, pair) => w.sni().set(name, pair),
    onRemove: (name) => void w.sni().delete(name),
    onOrder: w.onOrder,
    directoryUrl: w.config.acme.directoryUrl,
    log: w.log,
  });
}
