import { defineCommand } from "citty";
import { listClusterNodes, type ClusterNodeStatus } from "../../db/queries/cluster.ts";
import { formatDate } from "../../lib/format/units.ts";
import { withServerContext } from "../_server-context.ts";
import { boolCell, configArgs, jsonArgs, printListing } from "../_shared.ts";

/** `--json`: times as RFC 3339 (null when the node has no heartbeat row), the age in seconds. */
function nodeJson(n: ClusterNodeStatus) {
  const known = n.heartbeatAgeMs >= 0;
  return {
    nodeId: n.nodeId,
    advertise: n.advertise,
    fingerprint: n.fingerprint,
    started: known ? new Date(n.startedAt) : null,
    heartbeat: known ? new Date(n.heartbeatAt) : null,
    heartbeatAge: known ? Math.round(n.heartbeatAgeMs / 100) / 10 : null,
    live: n.live,
    tunnels: n.tunnels,
  };
}

export default defineCommand({
  meta: { name: "ls", description: "List the server nodes using this database: advertise address, heartbeat age, live or dead, tunnels held" },
  args: { ...configArgs, ...jsonArgs },
  async run({ args }) {
    const nodes = (await withServerContext(args, ({ db }) => listClusterNodes(db))).map(nodeJson);
    printListing(args, nodes, {
      headers: ["Node", "Advertise", "Heartbeat", "Live", "Tunnels", "Started"],
      row: (n) => [n.nodeId, n.advertise || "-", n.heartbeatAge === null ? "never" : `${n.heartbeatAge.toFixed(1)} s ago`, boolCell(n.live), String(n.tunnels), formatDate(n.started)],
      noun: ["node"],
    });
  },
});
