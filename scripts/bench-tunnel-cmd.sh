#!/usr/bin/env bash
# TUNNEL_CMD for ../shared/bench/run.sh: starts one spokes server and one pktriot client
# exposing 127.0.0.1:$SVC_PORT, prints the public port, then keeps running. An HTTP
# upstream is exposed through an HTTP rule routed by Host (wrk sends Host: 127.0.0.1:<port>,
# so the rule's domain is 127.0.0.1); any other upstream through an allocated TCP port.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SPOKES=$ROOT/dist/spokes
PKTRIOT=$ROOT/dist/pktriot
D=$(mktemp -d /tmp/spokes-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# Below the ephemeral range (32768+): a TIME_WAIT socket of an earlier path could hold a port there.
BEGIN=$((23000 + (SVC_PORT % 50) * 100))
# start_server: free ports, config, server; waits until it serves. Three instances start at
# once, so another may take a port between free_port and the bind: the server then exits
# and the next attempt picks new ports.
start_server() {
  HTTP=$(free_port); HTTPS=$(free_port); DIRECT=0
  # BENCH_DIRECT=1: the client connects to listen.tunnel (no SNI front door, no loopback hop).
  [[ ${BENCH_DIRECT:-0} == 1 ]] && DIRECT=$(free_port)
  cat >"$D/config.json" <<JSON
{"domain":"bench.test","dataPath":"$D","portRange":{"begin":$BEGIN,"end":$((BEGIN + 99))},
 "tls":{"selfSigned":true},"listen":{"address":"127.0.0.1","http":$HTTP,"https":$HTTPS,"tunnel":$DIRECT},
 "tunOptions":{"maxPoolSize":${POOL:-4},"maxPorts":5}}
JSON
  # SPOKES_SERVE_CMD: another way to run the server (profiling: "bun --cpu-prof commands/spokes.ts").
  ${SPOKES_SERVE_CMD:-"$SPOKES"} serve --config "$D/config.json" >"$D/server.log" 2>&1 &
  SERVER=$!
  # Up to 60 s: three servers and clients start at once, and a busy machine slows each (a
  # client configured before its server listens fails with connection refused).
  for _ in $(seq 600); do
    grep -q serving "$D/server.log" && return 0
    kill -0 $SERVER 2>/dev/null || { echo "server exited: $(tail -1 "$D/server.log")" >&2; return 1; }
    sleep 0.1
  done
  return 1
}
for attempt in 1 2 3; do start_server && break; [[ $attempt == 3 ]] && exit 1; done
# BENCH_RSS_DIR: the server's VmHWM (kB) is kept up to date there for scripts/bench.sh.
# Shell builtins only (read, kill, a read timeout on a FIFO as the sleep): a fork per
# sample of three instances took CPU from the measured processes (forks are costly on
# this virtual machine: bash, awk and sleep were 10% of the CPU during a wrk run).
if [[ -n ${BENCH_RSS_DIR:-} ]]; then
  mkfifo "$D/tick"
  ( exec 9<>"$D/tick"
    while kill -0 $SERVER 2>/dev/null; do
      while read -r k v _; do
        [[ $k == VmHWM: ]] && { echo "$v" >"$BENCH_RSS_DIR/$SVC_PORT.hwm"; break; }
      done </proc/$SERVER/status 2>/dev/null
      read -t 1 -u 9 || true
    done ) &
fi
TOKEN=$("$SPOKES" --config "$D/config.json" token create | tail -1)
"$PKTRIOT" unmanaged configure --config "$D/client.json" --hostname "127.0.0.1:$([[ $DIRECT != 0 ]] && echo "$DIRECT" || echo "$HTTPS")" --key "$TOKEN" --ca "$D/tls/self-signed.crt" >/dev/null
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SVC_PORT/" || true)
if [[ $code == 200 ]]; then
  "$PKTRIOT" --config "$D/client.json" tunnel http add --domain 127.0.0.1 --http "$SVC_PORT" >/dev/null
  PUB=$HTTP
else
  PUB=$("$PKTRIOT" --config "$D/client.json" tunnel tcp allocate | grep -o '[0-9]*$')
  "$PKTRIOT" --config "$D/client.json" tunnel tcp forward --port "$PUB" --destination 127.0.0.1 --dstport "$SVC_PORT" >/dev/null
fi
# PKTRIOT_START_CMD: another way to run the client (profiling: "bun --cpu-prof commands/pktriot.ts").
${PKTRIOT_START_CMD:-"$PKTRIOT"} --config "$D/client.json" start >"$D/client.log" 2>&1 &
for _ in $(seq 600); do grep -q online "$D/client.log" && break; sleep 0.1; done
echo "$PUB"
wait
