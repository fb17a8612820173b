import type { PortRule } from "../../lib/client-config/index.ts";
import { countLine, renderTable } from "../../lib/format/table.ts";

export function tcpPortsTable(ports: PortRule[]): string {
  const rows = ports.map((p) => [
    String(p.port),
    p.destination || "--",
    p.dstPort ? String(p.dstPort) : "--",
    p.private ? "private" : "public",
    p.meshAllow?.length ? p.meshAllow.join(", ") : "any tunnel",
  ]);
  return `${renderTable(["Port", "Destination", "Dst Port", "Listener", "Mesh Access"], rows)}\n${countLine(ports.length, "port")}`;
}

/** `--json`: every port with its access fields spelled out, defaults included. */
export function tcpPortsJson(ports: PortRule[]): PortRule[] {
  return ports.map((p) => ({ ...p, private: p.private === true, meshAllow: p.meshAllow ?? [] }));
}
