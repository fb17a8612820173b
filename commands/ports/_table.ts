import type { PortMap } from "../../lib/client-config/index.ts";
import { countLine, renderTable } from "../../lib/format/table.ts";

export function portMapsTable(maps: PortMap[]): string {
  const rows = maps.map((m) => [String(m.listenPort), m.transport, m.destination, String(m.dstPort)]);
  return `${renderTable(["Local Port", "Transport", "Host", "Destination Port"], rows)}\n${countLine(maps.length, "port mapping")}`;
}
