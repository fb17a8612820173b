/** @jsxImportSource hono/jsx */
// A bar chart of bytes per day (in + out), drawn on the server as SVG: no script, one
// <rect> per day whose height is its share of the busiest day, with the exact figures in
// each bar's <title> (the browser's tooltip) and data attributes.
import type { DayBandwidth } from "../../db/queries/bandwidth.ts";
import { formatBytes } from "../../lib/format/units.ts";

/** Drawing area in SVG units; the element scales to the width of its container. */
const WIDTH = 600;
const HEIGHT = 120;
const GAP = 2;

export function BandwidthChart(p: { days: DayBandwidth[]; label: string }) {
  const totals = p.days.map((d) => d.bytesIn + d.bytesOut);
  const max = Math.max(0, ...totals);
  const slot = WIDTH / Math.max(1, p.days.length);
  const sum = totals.reduce((a, b) => a + b, 0);
  const first = p.days[0]?.day ?? "";
  const last = p.days.at(-1)?.day ?? "";
  return (
    <figure class="chart">
      <figcaption>
        {p.label}: {formatBytes(sum)} from {first} to {last}
        {max > 0 && <span class="muted"> (busiest day {formatBytes(max)})</span>}
      </figcaption>
      <svg
        xmlns="http://www.w3.org/2000/svg"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`${p.label}, ${p.days.length} days: ${formatBytes(sum)}`}
        data-max={String(max)}
      >
        <line class="axis" x1="0" y1={HEIGHT - 0.5} x2={WIDTH} y2={HEIGHT - 0.5} />
        {p.days.map((d, i) => {
          const bytes = totals[i]!;
          const h = max > 0 ? (bytes / max) * HEIGHT : 0;
          return (
            <rect class="bar" x={fixed(i * slot + GAP / 2)} y={fixed(HEIGHT - h)} width={fixed(slot - GAP)} height={fixed(h)} data-day={d.day} data-bytes={String(bytes)}>
              <title>
                {d.day}: {formatBytes(bytes)} (in {formatBytes(d.bytesIn)}, out {formatBytes(d.bytesOut)})
              </title>
            </rect>
          );
        })}
      </svg>
      <div class="chart-days muted">
        <span>{first}</span>
        <span>{last}</span>
      </div>
    </figure>
  );
}

/** Three decimals are below a pixel at any sane width and keep the markup short. */
function fixed(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}
