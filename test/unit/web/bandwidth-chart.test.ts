// The 30-day bandwidth chart: a pure view of its props, and on the overview and tunnel
// details pages through app.request(). The SVG is read with Bun's HTML parser
// (HTMLRewriter): one bar per day, in order, heights proportional to the bytes.
import { beforeEach, describe, expect, test } from "bun:test";
import { addBandwidth, dayKey, type DayBandwidth } from "../../../db/queries/bandwidth.ts";
import { saveAnnouncedServices, saveServiceAvailability } from "../../../db/queries/live.ts";
import { TUNNEL_STATE } from "../../../db/schema.ts";
import { defaultClientConfig, emptyHttpRule } from "../../../lib/client-config/types.ts";
import { BandwidthChart } from "../../../web/views/bandwidth-chart.tsx";
import { insertPort, insertTunnel } from "../../db-fixtures.ts";
import { Browser, signedIn, type TestWeb } from "./web-helpers.ts";

interface Bar {
  day: string;
  bytes: number;
  y: number;
  height: number;
  title: string;
}
interface Chart {
  viewBox: string;
  max: number;
  bars: Bar[];
}

/** Every chart of a page: its viewBox, and per bar the day, bytes, geometry and tooltip. */
async function charts(html: string): Promise<Chart[]> {
  const found: Chart[] = [];
  let title: Bar | undefined;
  await new HTMLRewriter()
    .on("figure.chart svg", { element: (e) => void found.push({ viewBox: e.getAttribute("viewBox") ?? "", max: Number(e.getAttribute("data-max")), bars: [] }) })
    .on("figure.chart svg rect.bar", {
      element(e) {
        const bar = { day: e.getAttribute("data-day")!, bytes: Number(e.getAttribute("data-bytes")), y: Number(e.getAttribute("y")), height: Number(e.getAttribute("height")), title: "" };
        found.at(-1)!.bars.push(bar);
        title = bar;
      },
    })
    .on("figure.chart svg rect.bar title", { text: (t) => void (title!.title += t.text) })
    .transform(new Response(html))
    .text();
  return found;
}

const DAY = 86_400_000;
const render = async (data: DayBandwidth[], label: string) => String(await BandwidthChart({ days: data, label }).toString());
const days = (n: number, now: number) => Array.from({ length: n }, (_, i) => dayKey(now - (n - 1 - i) * DAY));

/** Heights are in proportion to bytes (the busiest day is the full height), rounded to 0.001. */
function expectProportional(c: Chart): void {
  const fullHeight = Number(c.viewBox.split(" ")[3]);
  const max = Math.max(...c.bars.map((b) => b.bytes));
  expect(c.max).toBe(max);
  for (const b of c.bars) {
    expect(b.height).toBeCloseTo(max ? (b.bytes / max) * fullHeight : 0, 2);
    expect(b.y + b.height).toBeCloseTo(fullHeight, 2); // bars stand on the axis
  }
}

test("the view: one bar per day in order, heights in proportion, figures in the tooltips", async () => {
  const now = Date.parse("2030-03-20T12:00:00Z");
  const data: DayBandwidth[] = days(30, now).map((day, i) => ({ day, bytesIn: i * 1000, bytesOut: i % 3 === 0 && i > 0 ? 500 : 0 }));
  const [c] = await charts(await render(data, "Test"));
  expect(c!.bars.map((b) => b.day)).toEqual(data.map((d) => d.day));
  expect(c!.bars.map((b) => b.bytes)).toEqual(data.map((d) => d.bytesIn + d.bytesOut));
  expectProportional(c!);
  expect(c!.bars.at(-1)!.height).toBe(Number(c!.viewBox.split(" ")[3]));
  expect(c!.bars[0]!.height).toBe(0);
  expect(c!.bars[3]!.title).toBe("2030-02-22: 3.50 KB (in 3.00 KB, out 500 B)");
});

test("no traffic: 30 flat bars, no division by zero", async () => {
  const data = days(30, Date.now()).map((day) => ({ day, bytesIn: 0, bytesOut: 0 }));
  const [c] = await charts(await render(data, "Empty"));
  expect(c!.bars).toHaveLength(30);
  expect(c!.bars.every((b) => b.height === 0 && Number.isFinite(b.y))).toBe(true);
});

describe("pages", () => {
  let w: TestWeb;
  let b: Browser;
  beforeEach(async () => {
    ({ w, b } = await signedIn());
  });

  test("the overview charts every tunnel's daily totals over the last 30 days", async () => {
    const now = w.clock.now;
    const t1 = await insertTunnel(w.db, { state: TUNNEL_STATE.online });
    const t2 = await insertTunnel(w.db, { state: TUNNEL_STATE.offline });
    await addBandwidth(w.db, [
      { tunnelId: t1, service: "", bytesIn: 4000, bytesOut: 0, at: now },
      { tunnelId: t2, service: "", bytesIn: 0, bytesOut: 4000, at: now },
      { tunnelId: t1, service: "", bytesIn: 2000, bytesOut: 0, at: now - 5 * DAY },
      { tunnelId: t1, service: "", bytesIn: 1_000_000, bytesOut: 0, at: now - 30 * DAY }, // outside the window
      { tunnelId: t1, service: "app.example.com", bytesIn: 9999, bytesOut: 0, at: now }, // per service: already in the total
    ]);
    await b.get("/");
    const [c, ...more] = await charts(b.lastHtml);
    expect(more).toEqual([]);
    expect(c!.bars.map((x) => x.day)).toEqual(days(30, now));
    const byDay = Object.fromEntries(c!.bars.filter((x) => x.bytes).map((x) => [x.day, x.bytes]));
    expect(byDay).toEqual({ [dayKey(now)]: 8000, [dayKey(now - 5 * DAY)]: 2000 });
    expectProportional(c!);
    expect(c!.bars.find((x) => x.day === dayKey(now - 5 * DAY))!.height).toBeCloseTo(c!.bars.at(-1)!.height / 4, 2);
  });

  test("tunnel details: its own chart and each service's monitoring state with the last check", async () => {
    const now = w.clock.now;
    const id = await insertTunnel(w.db, { state: TUNNEL_STATE.online });
    const other = await insertTunnel(w.db, { state: TUNNEL_STATE.online });
    w.live.online.add(id);
    await insertPort(w.db, 30001, id);
    await insertPort(w.db, 30002, id);
    await saveAnnouncedServices(
      w.db,
      { id, userId: null },
      [{ domain: "app.example.com", secure: true, available: true }, { domain: "api.example.com", secure: true, available: true }, { domain: "new.example.com", secure: true, available: true }],
      [{ port: 30001, available: true }, { port: 30002, available: true }],
      {},
    );
    w.live.configs.set(id, {
      ...defaultClientConfig(),
      https: ["app.example.com", "api.example.com", "new.example.com"].map((d) => ({ ...emptyHttpRule(d), port: 8080, destination: "127.0.0.1" })),
      ports: [30001, 30002].map((port) => ({ port, destination: "127.0.0.1", dstPort: 22, firewall: [] })),
    });
    const checked = new Date(Date.parse("2030-03-20T17:28:00Z"));
    await saveServiceAvailability(
      w.db,
      id,
      [
        { kind: "http", name: "app.example.com", available: true },
        { kind: "http", name: "api.example.com", available: false },
        { kind: "tcp", name: "30002", available: false },
      ],
      checked,
    );
    await addBandwidth(w.db, [
      { tunnelId: id, service: "", bytesIn: 300, bytesOut: 300, at: now - DAY },
      { tunnelId: id, service: "", bytesIn: 200, bytesOut: 0, at: now },
      { tunnelId: other, service: "", bytesIn: 1_000_000, bytesOut: 0, at: now }, // another tunnel's
    ]);
    await b.get(`/tunnels/${id}`);
    const [c] = await charts(b.lastHtml);
    expect(c!.bars).toHaveLength(30);
    expect(Object.fromEntries(c!.bars.filter((x) => x.bytes).map((x) => [x.day, x.bytes]))).toEqual({ [dayKey(now - DAY)]: 600, [dayKey(now)]: 200 });
    expectProportional(c!);

    // Each table row's cells, keyed by its first cell (the domain or the port); the first
    // table that names a service is its rules table (the mesh access section lists it again).
    const rows = new Map<string, string>();
    let cells: string[] = [];
    await new HTMLRewriter()
      .on("tr", {
        element: (e) => {
          cells = [];
          e.onEndTag(() => {
            const key = cells[0]?.trim() ?? "";
            if (key && !rows.has(key)) rows.set(key, ` ${cells.map((c) => c.replace(/\s+/g, " ").trim()).join(" | ")} `);
          });
        },
      })
      .on("td", { element: () => void cells.push(""), text: (t) => void (cells[cells.length - 1] += t.text) })
      .transform(new Response(b.lastHtml))
      .text();
    const cell = (key: string) => rows.get(key) ?? `no row ${key} in ${[...rows.keys()].join(", ")}`;
    const when = "checked Mar 20, 2030 17:28";
    expect(cell("app.example.com")).toContain(` Online ${when} | `);
    expect(cell("api.example.com")).toContain(` Unavailable ${when} | `);
    expect(cell("new.example.com")).toContain(" Online not checked | ");
    expect(cell("30001")).toContain(" Online not checked | ");
    expect(cell("30002")).toContain(` Unavailable ${when} | `);

    // Offline, the last state stays, marked as such.
    w.live.online.delete(id);
    await b.get(`/tunnels/${id}`);
    expect(b.lastHtml.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ")).toContain(`Unavailable ${when}, tunnel offline`);
  });
});
