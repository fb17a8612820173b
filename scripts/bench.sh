#!/usr/bin/env bash
# `npm run bench`: the tunnel measured beside the reference paths of ../shared/bench/run.sh
# (direct, socat, ssh -N -R, ssh -tt -R, a Bun relay) in one run, printing ratios; then the
# scale run (1,000 idle tunnels: RSS per tunnel, p99 stream-open time).
# Knobs: those of run.sh (RUNS, BULK, WRK_ARGS, CONN_N, ...), SCALE_TUNNELS (1000), SKIP_SCALE=1,
# SKIP_DIRECT=1 (skips the second run, with clients on listen.tunnel).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
export PATH="$ROOT/node_modules/.bin:$PATH"
bash "$ROOT/scripts/setup-bench-deps.sh"
bun "$ROOT/scripts/build.ts"
mkdir -p "$ROOT/bench-results"
OUT_MD=${OUT_MD:-$ROOT/bench-results/latest.md}
[[ -x $HARNESS/run.sh ]] || { echo "error: bench harness not found at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
echo "## Tunnel through the HTTPS front door (default configuration)"
OUT_MD=$OUT_MD TUNNEL_CMD="exec bash $ROOT/scripts/bench-tunnel-cmd.sh" bash "$HARNESS/run.sh"
cat "$OUT_MD"
if [[ ${SKIP_DIRECT:-0} != 1 ]]; then
  echo
  echo "## Tunnel through listen.tunnel (direct tunnel port)"
  DIRECT_MD=${OUT_MD%.md}-direct.md
  BENCH_DIRECT=1 PATHS=${PATHS:-direct socat ssh ssh-tt} OUT_MD=$DIRECT_MD TUNNEL_CMD="exec bash $ROOT/scripts/bench-tunnel-cmd.sh" bash "$HARNESS/run.sh"
  cat "$DIRECT_MD"
fi
if [[ ${SKIP_SCALE:-0} != 1 ]]; then
  echo
  echo "## Scale: ${SCALE_TUNNELS:-1000} idle tunnels"
  bun "$ROOT/scripts/bench-scale.ts" --tunnels "${SCALE_TUNNELS:-1000}" --procs 4 --requests 1000
fi
