// Bulk traffic allocates a fresh buffer for every socket read; JavaScriptCore frees them
// only when it collects, which it does late when the JS heap itself is small. Under a 1 GiB
// transfer that let the RSS climb ~70 MiB above idle. Collecting when the RSS has grown a
// set amount since the last collection keeps it flat, at a cost of a few ms per collection.

const CHECK_MS = 100;
const GROWTH_BYTES = 8 * 1024 * 1024;

export function startMemoryGovernor(): () => void {
  let floor = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss - floor < GROWTH_BYTES) {
      if (rss < floor) floor = rss;
      return;
    }
    Bun.gc(true);
    floor = process.memoryUsage.rss();
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
