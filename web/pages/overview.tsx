/** @jsxImportSource hono/jsx */
// GET / — the overview.
import { Hono } from "hono";
import { dailyBandwidth } from "../../db/queries/bandwidth.ts";
import { listTunnels } from "../../db/queries/tunnels.ts";
import type { WebEnv, WebShared } from "../context.ts";
import { OverviewView } from "../views/overview.tsx";

export function createOverviewPages(shared: WebShared) {
  const app = new Hono<WebEnv>();
  app.get("/", async (c) => {
    const active = await listTunnels(shared.deps.db, { now: shared.now() });
    const platforms = new Map<string, { os: string; arch: string; count: number }>();
    const versions = new Map<string, number>();
    for (const t of active) {
      if (t.state === 1) continue; // never connected: no platform to report
      const k = `${t.os}/${t.arch}`;
      const p = platforms.get(k) ?? { os: t.os, arch: t.arch, count: 0 };
      p.count++;
      platforms.set(k, p);
      versions.set(t.version, (versions.get(t.version) ?? 0) + 1);
    }
    return c.render(
      <OverviewView
        domain={shared.deps.config().domain}
        active={active.length}
        online={active.filter((t) => t.state === 2).length}
        offline={active.filter((t) => t.state === 3).length}
        init={active.filter((t) => t.state === 1).length}
        daily={active.reduce((n, t) => n + t.bandwidth.daily, 0)}
        monthly={active.reduce((n, t) => n + t.bandwidth.monthly, 0)}
        platforms={[...platforms.values()].sort((a, b) => b.count - a.count)}
        versions={[...versions].map(([version, count]) => ({ version, count })).sort((a, b) => b.count - a.count)}
        days={await dailyBandwidth(shared.deps.db, { now: shared.now() })}
      />,
      { title: "Overview" },
    );
  });
  return app;
}
