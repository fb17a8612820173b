// Remote traffic management of an online tunnel (SPEC 2.3), shared by the Admin API's
// `tunnel/traffic/...` endpoints and the dashboard's rule forms: validate on the server,
// allocate/release ports in the database, send the change to the client through the
// engine, and report what the client answered.
import { allocatePort, findDomainOwner, releasePort } from "../db/queries/live.ts";
import { listTunnelPorts } from "../db/queries/ports.ts";
import { getTunnel } from "../db/queries/tunnels.ts";
import { applyRemoteChange, parseRemoteChange, type RemoteChange } from "../lib/client-config/remote-change.ts";
import { checkCertificateUploads } from "../lib/client-config/certificate-upload.ts";
import { validateClientConfig } from "../lib/client-config/validate.ts";
import { UserError, errorMessage } from "../lib/errors.ts";
import { isId } from "../db/ids.ts";
import type { WebAppDeps } from "./deps.ts";

/** What a caller asks for: a RemoteChange, or `tcp/allocate` (the server picks the port). */
export type RemoteRequest = { kind: "tcp/allocate" } | Record<string, unknown>;

export type RemoteOutcome =
  | { ok: true; change: RemoteChange; ports?: { port: number; tunID: string }[] }
  | { ok: false; status: 400 | 404 | 409 | 501 | 502; error: string };

const fail = (status: 400 | 404 | 409 | 501 | 502, error: string): RemoteOutcome => ({ ok: false, status, error });

export async function runRemoteChange(deps: WebAppDeps, tunnelId: string, request: RemoteRequest): Promise<RemoteOutcome> {
  if (!isId(tunnelId)) return fail(400, `malformed tunnel id ${JSON.stringify(tunnelId)} (expected 32 lowercase hex characters)`);
  let tunnel;
  try {
    tunnel = await getTunnel(deps.db, tunnelId);
  } catch (err) {
    return fail(404, errorMessage(err));
  }
  if (tunnel.state !== 2 || !deps.live.isOnline(tunnelId)) {
    return fail(409, `tunnel ${tunnelId} is offline: remote changes are sent to the connected client`);
  }
  const apply = deps.live.applyChange;
  if (!apply) return fail(501, "remote management is not available on this server");
  const owner = { id: tunnel.id, userId: tunnel.userID || null };

  if (request.kind === "tcp/allocate") {
    const cfg = deps.config();
    const r = await allocatePort(deps.db, owner, cfg.portRange, cfg.tunOptions.maxPorts);
    if (!r.ok) return fail(409, r.reason);
    const change: RemoteChange = { kind: "tcp/add", port: r.port };
    const res = await apply(tunnelId, change);
    if (!res.ok) {
      await releasePort(deps.db, tunnelId, r.port);
      return fail(502, `the client did not apply the change: ${res.error || "no reason given"}`);
    }
    return { ok: true, change, ports: [{ port: r.port, tunID: tunnelId }] };
  }

  let change: RemoteChange;
  try {
    // Uploaded certificates (PEM or base64 PEM in ca/privateKey) are checked here and sent as PEM.
    change = checkCertificateUploads(parseRemoteChange(request));
    await checkAgainstServer(deps, tunnelId, change);
    await checkAgainstLiveConfig(deps, tunnelId, change);
  } catch (err) {
    if (err instanceof UserError) return fail(err.message.includes("claimed by another tunnel") ? 409 : 400, err.message);
    throw err;
  }
  const res = await apply(tunnelId, change);
  if (!res.ok) return fail(502, `the client did not apply the change: ${res.error || "no reason given"}`);
  if (change.kind === "tcp/release") await releasePort(deps.db, tunnelId, change.port);
  return { ok: true, change };
}

/** What only the server knows: its own domain, other tunnels' domains, port allocations. */
async function checkAgainstServer(deps: WebAppDeps, tunnelId: string, change: RemoteChange): Promise<void> {
  const domain = deps.config().domain;
  if (change.kind === "http/update") {
    for (const site of change.sites) {
      if (site.domain === domain) throw new UserError(`domain ${site.domain} is the server's own domain`);
      if (await findDomainOwner(deps.db, site.domain, tunnelId)) throw new UserError(`domain ${site.domain} is claimed by another tunnel`);
    }
  }
  const ports = change.kind === "tcp/release" ? [change.port] : change.kind === "tcp/update" ? change.ports.map((p) => p.port) : change.kind === "tcp/reset" ? change.ports : [];
  if (ports.length) {
    const owned = new Set((await listTunnelPorts(deps.db, tunnelId)).map((p) => p.port));
    for (const p of ports) if (!owned.has(p)) throw new UserError(`port ${p} is not allocated to this tunnel`);
  }
}

/** A change that cannot apply to the client's current rules (unknown domain...) is refused before it is sent. */
async function checkAgainstLiveConfig(deps: WebAppDeps, tunnelId: string, change: RemoteChange): Promise<void> {
  const live = (await deps.live.tunnel?.(tunnelId))?.config;
  if (!live || typeof live !== "object") return;
  let current;
  try {
    current = validateClientConfig(live);
  } catch {
    return; // an announced config we cannot read is the client's business; it checks again
  }
  applyRemoteChange(current, change);
}
