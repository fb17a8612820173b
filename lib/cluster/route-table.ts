// The route table of a cluster node: its own live tunnels first, then the tunnels the
// other nodes hold. A tunnel that just moved here is found locally even while the sync
// loop still has the old node's location.
import type { HttpRoute, PortRoute, RoutedTunnel, RouteTable } from "../tunnel/server/registry.ts";

export function createCompositeRoutes(local: RouteTable, remote: RouteTable): RouteTable {
  return {
    http: (domain): HttpRoute<RoutedTunnel> | undefined => local.http(domain) ?? remote.http(domain),
    port: (port): PortRoute<RoutedTunnel> | undefined => local.port(port) ?? remote.port(port),
  };
}
