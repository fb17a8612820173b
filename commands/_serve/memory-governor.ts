// Bulk traffic allocates a fresh buffer for every socket read; JavaScriptCore frees them
// only when it collects, which it does late when the JS heap itself is small. Under a 1 GiB
// transfer that let the RSS climb ~70 MiB above idle (to ~150 MiB).
//
// So when the RSS has grown a few MiB since the last check, the governor asks for a
// collection: a full (blocking) one while bulk traffic flows, which keeps the RSS flat
// (~120 MiB), and otherwise an asynchronous one. Full collections under request/response
// load stalled every request in flight (HTTP p99 2 ms -> 10 ms), hence the split by rate.

const CHECK_MS = 100;
const GROWTH_BYTES = 8 * 1024 * 1024;
/** Tunnel bytes per check above which traffic counts as bulk (about 300 MB/s). */
const BULK_BYTES_PER_CHECK = 32 * 1024 * 1024;

export function startMemoryGovernor(bytesMoved: () => number): () => void {
  let floor = process.memoryUsage.rss();
  let lastBytes = bytesMoved();
  const timer = setInterval(() => {
    const bytes = bytesMoved();
    const bulk = bytes - lastBytes > BULK_BYTES_PER_CHECK;
    lastBytes = bytes;
    const rss = process.memoryUsage.rss();
    if (rss - floor < GROWTH_BYTES) {
      if (rss < floor) floor = rss;
      return;
    }
    Bun.gc(bulk);
    floor = process.memoryUsage.rss();
  }, CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
