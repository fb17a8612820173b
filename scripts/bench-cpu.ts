// Server CPU per GiB: one tunnel, one TCP connection through an allocated port, N bytes
// uploaded then N bytes downloaded, for the default configuration (client through the
// HTTPS front door) and for listen.tunnel, side by side in one run. CPU seconds of the
// spokes process come from /proc/<pid>/stat (user + system), which a busy machine
// disturbs far less than throughput, so the ratio between the two paths is what to read.
//
//   bun scripts/bench-cpu.ts [--bytes 1G] [--runs 1] [--paths 443,tunnel]
// Profile the server: SPOKES_SERVE_CMD="bun --cpu-prof --cpu-prof-dir=/tmp/prof commands/spokes.ts"
import { spawn } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { bytes: { type: "string", default: "1G" }, runs: { type: "string", default: "1" }, paths: { type: "string", default: "443,tunnel" } } });
const BYTES = parseSize(values.bytes!);
const RUNS = Number(values.runs);
const ROOT = new URL("..", import.meta.url).pathname;
const TICK = 100; // USER_HZ on Linux

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s);
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * ({ "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as Record<string, number>)[m[2]!.toUpperCase()]!;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
}

function statusMiB(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}
const hwmMiB = (pid: number) => statusMiB(pid, "VmHWM");

/** A service that counts what it receives and, when asked with one byte "D", sends BYTES. */
function startService() {
  let received = 0;
  let waiter: (() => void) | undefined;
  const chunk = new Uint8Array(64 * 1024).fill(7);
  const server = Bun.listen<{ sent: number; sending: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) { s.data = { sent: 0, sending: false }; s.setNoDelay(true); },
      data(s, buf) {
        if (!s.data.sending && buf.length === 1 && buf[0] === 68) { s.data.sending = true; pump(s); return; }
        received += buf.length;
        if (received >= BYTES && waiter) { const w = waiter; waiter = undefined; w(); }
      },
      drain(s) { if (s.data.sending) pump(s); },
    },
  });
  function pump(s: Bun.Socket<{ sent: number; sending: boolean }>) {
    while (s.data.sent < BYTES) {
      const n = s.write(chunk.subarray(0, Math.min(chunk.length, BYTES - s.data.sent)));
      s.data.sent += n;
      if (n < chunk.length) return;
    }
    s.end();
  }
  return {
    port: server.port,
    reset() { received = 0; },
    uploaded: () => new Promise<void>((r) => (received >= BYTES ? r() : (waiter = r))),
    stop: () => server.stop(true),
  };
}

async function transfer(port: number, direction: "up" | "down", uploaded: () => Promise<void>): Promise<number> {
  const started = performance.now();
  const chunk = new Uint8Array(64 * 1024).fill(1);
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let got = 0;
    const push = (s: Bun.Socket) => {
      while (sent < BYTES) {
        const n = s.write(chunk.subarray(0, Math.min(chunk.length, BYTES - sent)));
        sent += Math.max(0, n);
        if (n < chunk.length) return;
      }
    };
    if (direction === "up") uploaded().then(resolve);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) { s.setNoDelay(true); direction === "up" ? push(s) : s.write("D"); },
        drain(s) { if (direction === "up") push(s); },
        data(s, buf) { got += buf.length; if (got >= BYTES) { s.end(); resolve(); } },
        close() { if (direction === "down" && got < BYTES) reject(new Error(`download closed at ${got} bytes`)); },
        error(_s, e) { reject(e); },
      },
    }).catch(reject);
  });
  return performance.now() - started;
}

async function startTunnel(svcPort: number, direct: boolean) {
  const proc = spawn(["bash", `${ROOT}scripts/bench-tunnel-cmd.sh`], {
    env: { ...process.env, SVC_PORT: String(svcPort), BENCH_DIRECT: direct ? "1" : "0" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("tunnel command ended before printing its port");
    out += new TextDecoder().decode(value);
  }
  const pub = Number(out.trim());
  const children = (await new Response(spawn(["pgrep", "-P", String(proc.pid)]).stdout).text()).trim().split("\n").map(Number);
  const spokesPid = children.find((pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("serve"); } catch { return false; } });
  if (!spokesPid) throw new Error("spokes server process not found");
  const clientPid = children.find((pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("start"); } catch { return false; } });
  const stop = () => {
    for (const pid of children) try { process.kill(pid, "SIGTERM"); } catch {}
    proc.kill();
  };
  // The server writes its CPU profile (SPOKES_SERVE_CMD with --cpu-prof) while it exits: wait for it, bounded.
  const stopped = async () => {
    stop();
    for (let i = 0; i < 200 && existsSync(`/proc/${spokesPid}`); i++) await Bun.sleep(50);
  };
  return { pub, spokesPid, clientPid, stop, stopped };
}

const service = startService();
// A benchmark stopped from outside (timeout, Ctrl-C) still stops the servers and clients it started.
const running = new Set<{ stop(): void }>();
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => { for (const t of running) t.stop(); process.exit(130); });
const rows: string[] = [];
const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const direct of values.paths!.split(",").map((p) => p === "tunnel")) {
      const tunnel = await startTunnel(service.port, direct);
      running.add(tunnel);
      try {
        // Warm up the path (first connection opens the data pool).
        const cpu0 = cpuSeconds(tunnel.spokesPid);
        const clientCpu = () => (tunnel.clientPid ? cpuSeconds(tunnel.clientPid) : Number.NaN);
        const ccpu0 = clientCpu();
        const idle = statusMiB(tunnel.spokesPid, "VmRSS");
        service.reset();
        const upMs = await transfer(tunnel.pub, "up", service.uploaded);
        const cpu1 = cpuSeconds(tunnel.spokesPid);
        const ccpu1 = clientCpu();
        const upPeak = hwmMiB(tunnel.spokesPid);
        const downMs = await transfer(tunnel.pub, "down", service.uploaded);
        const cpu2 = cpuSeconds(tunnel.spokesPid);
        const ccpu2 = clientCpu();
        const gib = BYTES / 1024 ** 3;
        const name = direct ? "listen.tunnel" : "via 443";
        rows.push(
          `${name.padEnd(14)} run ${run}  up ${(BYTES / 1e6 / (upMs / 1000)).toFixed(0).padStart(5)} MB/s ${((cpu1 - cpu0) / gib).toFixed(2)} s/GiB   ` +
            `down ${(BYTES / 1e6 / (downMs / 1000)).toFixed(0).padStart(5)} MB/s ${((cpu2 - cpu1) / gib).toFixed(2)} s/GiB   client ${((ccpu1 - ccpu0) / gib).toFixed(2)} / ${((ccpu2 - ccpu1) / gib).toFixed(2)} s/GiB   RSS ${idle.toFixed(0)} MiB before, peak ${upPeak.toFixed(0)} MiB after up, ${hwmMiB(tunnel.spokesPid).toFixed(0)} MiB after down`,
        );
        console.log(rows.at(-1));
      } finally {
        await tunnel.stopped();
        running.delete(tunnel);
      }
    }
  }
} finally {
  service.stop();
}
console.log(`\nserver CPU per GiB, ${BYTES} bytes each way, load average before: ${load}`);
for (const r of rows) console.log(r);
process.exit(0);
