// Human formats used by the CLI tables and the dashboard.

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `Mar 20, 2020 17:28` in UTC, so output does not depend on the machine's zone. */
export function formatDate(d: Date | number | null | undefined): string {
  if (d === null || d === undefined) return "-";
  const t = typeof d === "number" ? new Date(d) : d;
  if (Number.isNaN(t.getTime())) return "-";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${MONTHS[t.getUTCMonth()]} ${t.getUTCDate()}, ${t.getUTCFullYear()} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}`;
}

/** `1.20 MB` (decimal units, two places); `512 B` below a kilobyte. */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  // Whole bytes have no fraction to show ("512 B", not "512.00 B").
  return i === 0 ? `${Math.floor(v)} B` : `${v.toFixed(2)} ${units[i]}`;
}

/** `3 mins`, `2 hours`, `1 day`; `-` for zero (not connected). */
export function formatUptime(seconds: number): string {
  if (!seconds || seconds < 0) return "-";
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;
  if (seconds < 60) return plural(Math.floor(seconds), "sec");
  if (seconds < 3600) return plural(Math.floor(seconds / 60), "min");
  if (seconds < 86400) return plural(Math.floor(seconds / 3600), "hour");
  return plural(Math.floor(seconds / 86400), "day");
}
