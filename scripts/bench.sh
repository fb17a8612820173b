#!/usr/bin/env bash
# `npm run bench`: the tunnel measured beside the reference paths of ../shared/bench/run.sh
# (direct, socat, ssh -N -R, ssh -tt -R, a Bun relay) in one run, printing ratios; then the
# scale run (1,000 idle tunnels: RSS per tunnel, p99 stream-open time).
# Knobs: those of run.sh (RUNS, BULK, WRK_ARGS, CONN_N, ...), SCALE_TUNNELS (1000), SKIP_SCALE=1,
# SKIP_DIRECT=1 (skips the second run, with clients on listen.tunnel),
# LOAD=1 (each run twice: quiet, then beside a CPU hog: one `nice -n 19` busy loop per core,
# started and stopped here), LOAD=only (the loaded runs alone).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
# From a git worktree, ../shared sits beside the main checkout.
[[ -x $HARNESS/run.sh || -n ${BENCH_HARNESS:-} ]] || HARNESS=$(cd "$(git -C "$ROOT" rev-parse --git-common-dir)/../.." && pwd)/shared/bench
export PATH="$ROOT/node_modules/.bin:$PATH"
bash "$ROOT/scripts/setup-bench-deps.sh"
bun "$ROOT/scripts/build.ts"
mkdir -p "$ROOT/bench-results"
OUT_MD=${OUT_MD:-$ROOT/bench-results/latest.md}
[[ -x $HARNESS/run.sh ]] || { echo "error: bench harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }

HOGS=()
stop_hogs() {  # only the busy loops started here, by PID
  local p
  for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${HOGS[@]}"; do wait "$p" 2>/dev/null || true; done
  HOGS=()
}
# With autogroup scheduling (kernel.sched_autogroup_enabled=1, as here), a nice value only
# ranks processes of the same session: the tunnel under test runs in sessions of its own
# (run.sh starts it with setsid), so a plain `nice -n 19` loop in this session took an equal
# share of the CPU from the tunnel while staying below ssh, wrk and the services. Each hog
# is therefore its own session whose autogroup is niced to 19 too: low priority against
# every process measured, as a background compile is meant to be.
start_hogs() {
  local i
  for ((i = 0; i < $(nproc); i++)); do
    nice -n 19 setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; while :; do :; done' &
    HOGS+=($!)
  done
}
trap stop_hogs EXIT

# The server's own peak RSS (VmHWM of dist/spokes; the harness's column sums the whole
# process group: server, client and their shells, over three tunnel instances).
server_rss() {  # server_rss DIR -> "max MiB over the instances"
  local m=0 f v
  for f in "$1"/*.hwm; do [[ -f $f ]] || continue; v=$(cat "$f"); ((v > m)) && m=$v; done
  echo $((m / 1024))
}

# one_run TITLE OUT EXTRA-ENV...: one harness run with our tunnel, plus the server's peak RSS line.
one_run() {
  local title=$1 out=$2 rss; shift 2
  local rssdir; rssdir=$(mktemp -d /tmp/spokes-bench-rss.XXXXXX)
  echo "## $title"
  env TUNNEL_CMD_TIMEOUT="${TUNNEL_CMD_TIMEOUT:-90}" "$@" BENCH_RSS_DIR="$rssdir" OUT_MD="$out" TUNNEL_CMD="exec bash $ROOT/scripts/bench-tunnel-cmd.sh" bash "$HARNESS/run.sh" >/dev/null
  rss=$(server_rss "$rssdir"); rm -rf "$rssdir"
  { echo; echo "- spokes server peak RSS (VmHWM, largest of the 3 instances): $rss MiB"
    echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"; } >>"$out"
  cat "$out"
  echo
}

# both_configs LABEL SUFFIX: the default configuration (through 443), then listen.tunnel.
both_configs() {
  local label=$1 suffix=$2
  one_run "Tunnel through the HTTPS front door (default configuration)$label" "${OUT_MD%.md}$suffix.md"
  if [[ ${SKIP_DIRECT:-0} != 1 ]]; then
    one_run "Tunnel through listen.tunnel (direct tunnel port)$label" "${OUT_MD%.md}$suffix-direct.md" \
      BENCH_DIRECT=1 PATHS="${PATHS:-direct socat ssh ssh-tt}"
  fi
}

LOAD=${LOAD:-0}
[[ $LOAD != only ]] && both_configs "" ""
if [[ $LOAD == 1 || $LOAD == only ]]; then
  start_hogs
  echo "(CPU hog: ${#HOGS[@]} x nice -n 19 busy loop, PIDs ${HOGS[*]})"
  both_configs ", beside a CPU hog (LOAD=1)" "-loaded"
  stop_hogs
fi

if [[ ${SKIP_SCALE:-0} != 1 ]]; then
  echo
  echo "## Scale: ${SCALE_TUNNELS:-1000} idle tunnels"
  bun "$ROOT/scripts/bench-scale.ts" --tunnels "${SCALE_TUNNELS:-1000}" --procs 4 --requests 1000
fi
