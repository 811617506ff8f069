#!/bin/bash
# Builds the ovsvlan managed plugin directory offline, for `docker plugin create ovsvlan plugin/`:
#   plugin/config.json   the manifest (a copy of ../config.json, checked against the daemon's settings)
#   plugin/rootfs/       node + ip + ethtool + busybox (udhcpc, /bin/sh) + nsenter with the libraries
#                        `ldd` lists, /app/dist, /app/package.json, /app/scripts/udhcpc-hook and the
#                        production node_modules, plus the mountpoints Docker needs
# No registry, no docker and no network: everything comes from this machine (the node that runs
# the build, iproute2's ip, ethtool, busybox, util-linux's nsenter) and this checkout. plugin/build-docker.sh makes the same
# directory through the Dockerfile instead (docs/managed-plugin.md).
#
# Usage: bash plugin/build.sh [OUTDIR]      (npm run plugin:build; OUTDIR defaults to plugin/)
#   OVSVLAN_PLUGIN_NO_TSC=1   use the existing dist/ instead of running `npm run build` first
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${1:-$ROOT/plugin}
R=$OUT/rootfs
# shellcheck source=plugin/lib.sh
. "$HERE/lib.sh"
t0=$(date +%s%3N)
say() { echo "plugin/build: $*"; }

for c in node npm ip ethtool busybox nsenter ldd tar; do
    command -v "$c" >/dev/null || { say "needs $c on PATH (apt-get install iproute2 ethtool busybox-static util-linux; node >= 20)" >&2; exit 1; }
done
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    { say "needs node >= 20, found $(node --version)" >&2; exit 1; }

cd "$ROOT"
if [ "${OVSVLAN_PLUGIN_NO_TSC:-0}" != 1 ]; then
    [ -x node_modules/.bin/tsc ] || { say "run npm ci first (node_modules/ is missing)" >&2; exit 1; }
    npm run --silent build
fi
[ -f dist/main.js ] || { say "dist/main.js is missing: run npm run build" >&2; exit 1; }
check_manifest "$ROOT/config.json" "$ROOT/dist/config.js"

rm -rf "$R" "$OUT/config.json"
runtime_root
# the daemon: dist (no bench code ships) and package.json ("type": "module", the version)
tar -C "$ROOT" --exclude='dist/bench' -cf - dist package.json | tar -C "$R/app" -xf -
# udhcpc's hook of DHCP networks (src/dhcp/client.ts finds it at ../../scripts from dist/dhcp)
install -D -m 0755 "$ROOT/scripts/udhcpc-hook" "$R/app/scripts/udhcpc-hook"
# production dependencies only
mapfile -t deps < <(prod_deps "$ROOT")
[ ${#deps[@]} -gt 0 ] || { say "npm ls found no production dependencies (run npm ci)" >&2; exit 1; }
tar -C "$ROOT" -cf - "${deps[@]}" | tar -C "$R/app" -xf -
cp "$ROOT/config.json" "$OUT/config.json"
smoke_test

say "$OUT: $(du -sh "$R" | cut -f1) rootfs, ${#deps[@]} production packages, $(($(date +%s%3N) - t0)) ms"
say "next: docker plugin create ovsvlan $OUT && docker plugin enable ovsvlan"
