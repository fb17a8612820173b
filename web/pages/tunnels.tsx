/** @jsxImportSource hono/jsx */
// /tunnels — list with search and pagination, per-user browsing, tunnel details,
// shutdown with confirmation, and remote rule management (through web/remote.ts).
import { Hono, type Context } from "hono";
import { isId } from "../../db/ids.ts";
import { dailyBandwidth } from "../../db/queries/bandwidth.ts";
import { listTunnelPorts } from "../../db/queries/ports.ts";
import {
  bandwidthByService,
  cachedTunnelConfig,
  listConnections,
  listHttpServices,
  listTunnelUsers,
  searchTunnels,
  serviceKey,
  tunnelFacets,
} from "../../db/queries/tunnel-details.ts";
import { getTunnel, shutdownTunnel } from "../../db/queries/tunnels.ts";
import { findUserById } from "../../db/queries/users.ts";
import { splitMeshAllow } from "../../lib/client-config/mesh-access.ts";
import { emptyHttpRule, type HttpRule, type PortMap, type PortRule } from "../../lib/client-config/types.ts";
import type { WebEnv, WebShared } from "../context.ts";
import { runRemoteChange, type RemoteRequest } from "../remote.ts";
import { MessageView } from "../views/auth.tsx";
import { ShutdownConfirmView, TunnelDetailView, TunnelListView, type ServiceMonitoring, type TunnelDetailProps, type TunnelQuery } from "../views/tunnels.tsx";
import { formOf } from "./form.ts";
import { httpRuleFormError, readHttpRuleForm } from "./http-rule-form.ts";
import { readPortMapForm } from "./port-map-form.ts";
import { httpRuleFormValues } from "../views/http-rule-form.tsx";

export const TUNNELS_PER_PAGE = 25;

const DONE: Record<string, string> = {
  "http-saved": "HTTP rule saved on the client.",
  "http-removed": "HTTP rule removed.",
  allocated: "Port allocated.",
  released: "Port released.",
  forwarded: "Port forward saved on the client.",
  cleared: "Port forward cleared.",
  "portmap-saved": "Port map saved on the client.",
  "portmap-removed": "Port map removed.",
  "mesh-saved": "Mesh access saved on the client.",
};

type Ctx = Context<WebEnv>;

/** Reads whatever shape the client announced, keeping only well-formed rules. */
function rulesOf(config: unknown): { https: HttpRule[]; ports: PortRule[]; portmaps: PortMap[] } {
  const c = (config && typeof config === "object" ? config : {}) as { https?: unknown; ports?: unknown; portmaps?: unknown };
  const portmaps = Array.isArray(c.portmaps)
    ? c.portmaps.filter((m): m is PortMap => Boolean(m && typeof m === "object" && typeof (m as PortMap).listenPort === "number" && typeof (m as PortMap).dstPort === "number"))
    : [];
  const https = Array.isArray(c.https) ? c.https.filter((r): r is HttpRule => Boolean(r && typeof r === "object" && typeof (r as HttpRule).domain === "string")) : [];
  const ports = Array.isArray(c.ports) ? c.ports.filter((r): r is PortRule => Boolean(r && typeof r === "object" && typeof (r as PortRule).port === "number")) : [];
  return { https: https.map((r) => ({ ...emptyHttpRule(r.domain), ...r })), ports: ports.map((p) => ({ ...p, destination: p.destination ?? "", dstPort: p.dstPort ?? 0, firewall: p.firewall ?? [] })), portmaps: portmaps.map((m) => ({ ...m, destination: String(m.destination ?? ""), transport: "tcp", label: String(m.label ?? ""), http: Boolean(m.http) })) };
}

export function createTunnelPages(shared: WebShared) {
  const { deps } = shared;
  const db = deps.db;
  const app = new Hono<WebEnv>();

  app.get("/", async (c) => {
    const q: TunnelQuery = {
      term: (c.req.query("term") ?? "").trim(),
      os: c.req.query("os") ?? "",
      arch: c.req.query("arch") ?? "",
      version: c.req.query("version") ?? "",
      state: c.req.query("state") ?? "",
      user: isId(c.req.query("user") ?? "") ? c.req.query("user")! : "",
    };
    const stateNum = { init: 1, online: 2, offline: 3, shutdown: 4 }[q.state];
    let rows = await searchTunnels(db, { term: q.term, os: q.os, arch: q.arch, version: q.version, userId: q.user || undefined, scope: stateNum === 4 ? "visible" : "active", now: shared.now() });
    if (stateNum) rows = rows.filter((t) => t.state === stateNum);
    const pages = Math.max(1, Math.ceil(rows.length / TUNNELS_PER_PAGE));
    const page = Math.min(pages, Math.max(1, Number.parseInt(c.req.query("page") ?? "1", 10) || 1));
    const user = q.user ? await findUserById(db, q.user) : undefined;
    return c.render(
      <TunnelListView
        rows={rows.slice((page - 1) * TUNNELS_PER_PAGE, page * TUNNELS_PER_PAGE)}
        total={rows.length}
        page={page}
        pages={pages}
        query={q}
        facets={await tunnelFacets(db)}
        users={await listTunnelUsers(db)}
        userName={user?.email}
      />,
      { title: "Tunnels" },
    );
  });

  const notFound = (c: Ctx) => {
    c.status(404);
    return c.render(<MessageView title="No such tunnel" message="The tunnel does not exist or was deleted." link={["/tunnels", "All tunnels"]} />, { title: "Not found" });
  };

  const load = async (id: string) => (isId(id) ? getTunnel(db, id, shared.now()).catch(() => undefined) : undefined);

  /** The current rules: the connected client's, else the copy cached when it last announced. */
  const currentRules = async (id: string) => {
    const live = deps.live.isOnline(id) ? (await deps.live.tunnel?.(id))?.config : undefined;
    const source: "live" | "cached" = live && typeof live === "object" ? "live" : "cached";
    return { source, ...rulesOf(source === "live" ? live : await cachedTunnelConfig(db, id)) };
  };

  const detail = async (c: Ctx, id: string, extra: Partial<TunnelDetailProps> = {}) => {
    const tunnel = await load(id);
    if (!tunnel) return notFound(c);
    const rules = await currentRules(id);
    const allocated = await listTunnelPorts(db, id);
    const byPort = new Map(rules.ports.map((p) => [p.port, p]));
    const ports = allocated.map((a): PortRule & { allocated: boolean } => {
      const rule = byPort.get(a.port);
      return rule ? { ...rule, allocated: true } : { port: a.port, destination: a.destination, dstPort: a.dstPort, firewall: [], allocated: true };
    });
    const bw = await bandwidthByService(db, { tunnelIds: [id], now: shared.now() });
    // Monitoring state as the server stored it: what the client last announced, updated by its checks.
    const monitored = new Map<string, ServiceMonitoring>([
      ...(await listHttpServices(db, [id])).map((s) => [s.domain, { available: s.available, lastCheck: s.lastCheck }] as const),
      ...allocated.filter((a) => a.active).map((a) => [String(a.port), { available: a.available, lastCheck: a.lastCheck }] as const),
    ]);
    const online = tunnel.state === 2 && deps.live.isOnline(id);
    let httpForm = extra.httpForm;
    const editing = c.req.query("edit");
    if (!httpForm && editing) {
      const rule = rules.https.find((r) => r.domain === editing);
      if (rule) httpForm = { values: httpRuleFormValues(rule), errors: {}, editing: true };
    }
    return c.render(
      <TunnelDetailView
        csrf={c.get("csrf")}
        tunnel={tunnel}
        online={online}
        rulesSource={rules.source}
        https={rules.https}
        ports={ports}
        bandwidth={(s) => bw.get(serviceKey(id, s)) ?? { daily: 0, monthly: 0 }}
        portmaps={rules.portmaps}
        days={await dailyBandwidth(db, { tunnelId: id, now: shared.now() })}
        monitoring={(s) => monitored.get(String(s))}
        connections={await listConnections(db, id, 50)}
        ok={DONE[c.req.query("done") ?? ""]}
        {...extra}
        httpForm={httpForm}
      />,
      { title: tunnel.hostname || "Tunnel" },
    );
  };

  app.get("/:id", (c) => detail(c, c.req.param("id")));

  app.get("/:id/shutdown", async (c) => {
    const tunnel = await load(c.req.param("id"));
    if (!tunnel) return notFound(c);
    return c.render(<ShutdownConfirmView csrf={c.get("csrf")} tunnel={tunnel} />, { title: "Shut down tunnel" });
  });

  app.post("/:id/shutdown", async (c) => {
    const id = c.req.param("id");
    if (!(await load(id))) return notFound(c);
    await shutdownTunnel(db, id);
    deps.live.disconnect(id, "tunnel shut down by an admin");
    return c.redirect(`/tunnels/${id}`, 303);
  });

  /** Runs a remote change; on success back to the details page, else the page with the error. */
  const remote = async (c: Ctx, request: RemoteRequest, done: string, onError?: (error: string) => Partial<TunnelDetailProps>) => {
    const id = c.req.param("id") ?? "";
    const r = await runRemoteChange(deps, id, request);
    if (r.ok) return c.redirect(`/tunnels/${id}?done=${done}`, 303);
    if (r.status === 404 || (r.status === 400 && !isId(id))) return notFound(c);
    c.status(r.status === 502 ? 502 : r.status === 409 ? 409 : 422);
    return detail(c, id, onError ? onError(r.error) : { error: r.error });
  };

  app.post("/:id/http", async (c) => {
    const id = c.req.param("id");
    const domain = ((await formOf(c)).domain ?? "").trim().toLowerCase();
    const existing = (await currentRules(id)).https.find((r) => r.domain === domain);
    const { rule, state } = await readHttpRuleForm(c, existing);
    if (!rule) {
      c.status(422);
      return detail(c, id, { httpForm: state });
    }
    return remote(c, { kind: "http/update", sites: [rule] }, "http-saved", (error) => ({ httpForm: httpRuleFormError(state, error) }));
  });

  app.post("/:id/http/remove", async (c) => remote(c, { kind: "http/remove", domains: [(await formOf(c)).domain ?? ""] }, "http-removed"));
  app.post("/:id/ports/allocate", (c) => remote(c, { kind: "tcp/allocate" }, "allocated"));
  app.post("/:id/ports/:port/release", (c) => remote(c, { kind: "tcp/release", port: Number(c.req.param("port")) }, "released"));
  app.post("/:id/ports/:port/clear", (c) => remote(c, { kind: "tcp/reset", ports: [Number(c.req.param("port"))] }, "cleared"));
  const refuseForm = (c: Ctx, error: string) => {
    c.status(422);
    return detail(c, c.req.param("id") ?? "", { error });
  };
  // Mesh access (web/views/mesh-access.tsx): the service's current rule with a new list.
  app.post("/:id/ports/:port/mesh", async (c) => {
    const form = await formOf(c);
    const port = Number(c.req.param("port"));
    if (!(await load(c.req.param("id")))) return notFound(c);
    const rule = (await currentRules(c.req.param("id"))).ports.find((p) => p.port === port);
    if (!rule?.destination) return refuseForm(c, `port ${port} has no forward: set one before its mesh access`);
    return remote(c, { kind: "tcp/update", ports: [{ ...rule, private: form.private === "on", meshAllow: splitMeshAllow(form.meshAllow ?? "") }] }, "mesh-saved");
  });
  app.post("/:id/http/mesh", async (c) => {
    const form = await formOf(c);
    if (!(await load(c.req.param("id")))) return notFound(c);
    const rule = (await currentRules(c.req.param("id"))).https.find((r) => r.domain === (form.domain ?? "").trim().toLowerCase());
    if (!rule) return refuseForm(c, `no HTTP rule for ${form.domain ?? ""}`);
    return remote(c, { kind: "http/update", sites: [{ ...rule, meshAllow: splitMeshAllow(form.meshAllow ?? "") }] }, "mesh-saved");
  });
  app.post("/:id/ports/:port/forward", async (c) => {
    const form = await formOf(c);
    const port: PortRule = { port: Number(c.req.param("port")), destination: (form.destination ?? "").trim(), dstPort: Number(form.dstPort), firewall: [] };
    return remote(c, { kind: "tcp/update", ports: [port] }, "forwarded");
  });
  app.post("/:id/portmaps", async (c) => {
    const id = c.req.param("id");
    const { map, state } = readPortMapForm(await formOf(c), (await currentRules(id)).portmaps);
    if (!map) {
      c.status(422);
      return detail(c, id, { portMapForm: state });
    }
    return remote(c, { kind: "portmap/update", portmaps: [map] }, "portmap-saved", (error) => ({ portMapForm: { ...state, errors: { ...state.errors, portmap: error } } }));
  });
  app.post("/:id/portmaps/:listenPort/remove", (c) => remote(c, { kind: "portmap/remove", listenPorts: [Number(c.req.param("listenPort"))] }, "portmap-removed"));
  return app;
}
