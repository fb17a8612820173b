#!/usr/bin/env bash
# Installs the tools the benchmarks drive (../shared/bench/run.sh and scripts/bench*), idempotently.
set -euo pipefail
need=()
for pair in iperf3:iperf3 wrk:wrk socat:socat sshd:openssh-server ssh:openssh-client jq:jq ss:iproute2 setsid:util-linux; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "error: need root to install: ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
