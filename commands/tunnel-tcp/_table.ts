import type { PortRule } from "../../lib/client-config/index.ts";
import { countLine, renderTable } from "../../lib/format/table.ts";

export function tcpPortsTable(ports: PortRule[]): string {
  const rows = ports.map((p) => [String(p.port), p.destination || "--", p.dstPort ? String(p.dstPort) : "--"]);
  return `${renderTable(["Port", "Destination", "Dst Port"], rows)}\n${countLine(ports.length, "port")}`;
}
