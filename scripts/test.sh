#!/bin/bash
# The whole test suite, from a fresh clone, as root: installs what the tests
# need (Debian packages, npm dependencies), builds, and runs tap.
# Extra arguments go to tap (e.g. a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the tests need root: they create netns, veths, OVS and dockerd instances"; exit 1; }
bash scripts/install-deps.sh
[ -x node_modules/.bin/tap ] || npm ci --no-audit --no-fund
npm run --silent build
exec node_modules/.bin/tap "$@"
