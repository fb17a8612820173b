#!/usr/bin/env bash
# Installs the system tools the end-to-end tests talk through (idempotent, no prompts).
set -euo pipefail
need=()
# chromium: the dashboard's browser tests drive Debian's chromium with playwright-core.
# pebble: the ACME test CA the Let's Encrypt test orders from (test/e2e/acme.test.ts).
# prometheus: promtool, the Prometheus text-format parser the /metrics test checks with.
# systemd: systemd-analyze verify/security and systemd-sysusers/-tmpfiles check the service units
# (nothing is started; systemd need not be running). zsh, fish: the completion scripts load in them.
for pair in curl:curl openssl:openssl redis-server:redis-server redis-cli:redis-tools chromium:chromium pebble:pebble promtool:prometheus systemd-analyze:systemd zsh:zsh fish:fish; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
# postgresql: the cluster tests and the db unit suite's second engine start private
# clusters with its initdb/postgres (test/postgres-cluster.ts finds them on PATH or under
# /usr/lib/postgresql/*/bin, where Debian puts them).
command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "error: need root to install: ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
