#!/usr/bin/env bash
# The README's test command runs this (through `npm test`): install what the tests need,
# typecheck (a type error fails the run before the slow build), build the executables,
# run every test, end with `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-deps.sh
export PATH="$PWD/node_modules/.bin:$PATH"
if ! tsc --noEmit -p .; then
  echo "typecheck failed"
  echo "0 passed, 1 failed"
  exit 1
fi
bun scripts/build.ts
exec bun scripts/run-tests.ts "$@"
