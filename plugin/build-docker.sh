#!/bin/bash
# Builds the plugin directory through the Dockerfile instead of assembling it (plugin/build.sh):
# `docker build`, then `docker export` of a container of the image becomes rootfs/.
#
#   BASE unset (default)   offline: first makes the base image ovsvlan-base:local with `docker import`
#                          from this machine's node, npm, ip, ethtool and busybox-static (+ libraries),
#                          and builds from a context that carries node_modules: no registry, no npm,
#                          no apt, no network inside the build
#   BASE=node:20-bookworm-slim (or any image with node and npm)
#                          online: the repository itself is the context (.dockerignore), npm ci and
#                          apt-get run inside the build
#
# Usage: [DOCKER_HOST=unix:///…] [BASE=…] bash plugin/build-docker.sh [OUTDIR]
# Needs a dockerd that may build (20.10's legacy builder is enough: DOCKER_BUILDKIT=0 is set).
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${1:-$ROOT/plugin}
BASE=${BASE:-}
TAG=ovsvlan-rootfs:build-$$
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ovsvlan-plugin-docker.XXXXXX")
export DOCKER_BUILDKIT=0
# shellcheck source=plugin/lib.sh
. "$HERE/lib.sh"
t0=$(date +%s%3N)
say() { echo "plugin/build-docker: $*"; }
cid=
cleanup() {
    [ -n "$cid" ] && docker rm -f "$cid" >/dev/null 2>&1
    docker rmi -f "$TAG" >/dev/null 2>&1
    [ -z "$BASE" ] && docker rmi -f ovsvlan-base:local >/dev/null 2>&1
    # the build stage's image (untagged under the legacy builder), found by its label
    docker image prune -f --filter "label=ovsvlan.stage=build-$$" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
check_manifest "$ROOT/config.json" "$ROOT/dist/config.js"

if [ -z "$BASE" ]; then
    # the base the project makes: what the daemon runs (node, ip, ethtool, busybox, nsenter), plus what the build
    # stage runs (a shell and coreutils from busybox-static, npm) - never fetched
    [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ||
        { say "the offline base needs busybox-static (apt-get install busybox-static)" >&2; exit 1; }
    R=$WORK/base
    runtime_root
    rmdir "$R/app"
    install -D -m 0755 /bin/busybox "$R/bin/busybox"
    for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done
    ln -sf ../../bin/busybox "$R/usr/bin/env"
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")    # …/node_modules/npm
    mkdir -p "$R$(dirname "$npm_dir")"
    cp -a "$npm_dir" "$R$npm_dir"
    ln -sf "$npm_dir/bin/npm-cli.js" "$R/usr/local/bin/npm"
    tar -C "$R" -cf - . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - ovsvlan-base:local >/dev/null
    say "base image ovsvlan-base:local: $(du -sh "$R" | cut -f1), $(($(date +%s%3N) - t0)) ms"
    # the context: sources and node_modules as `npm ci` left them (the Dockerfile skips npm ci then,
    # and npm prune finds everything it needs there, offline)
    [ -f "$ROOT/node_modules/.package-lock.json" ] || { say "run npm ci first" >&2; exit 1; }
    CTX=$WORK/ctx
    mkdir -p "$CTX"
    tar -C "$ROOT" -cf - package.json package-lock.json tsconfig.json src scripts/udhcpc-hook node_modules | tar -C "$CTX" -xf -
    base_ref=ovsvlan-base:local
else
    CTX=$ROOT
    base_ref=$BASE
fi

t1=$(date +%s%3N)
docker build -q --build-arg "BASE=$base_ref" --build-arg "STAGE_LABEL=build-$$" -t "$TAG" -f "$ROOT/Dockerfile" "$CTX" >/dev/null
say "docker build: $(($(date +%s%3N) - t1)) ms"
rm -rf "$OUT/rootfs" "$OUT/config.json"
mkdir -p "$OUT/rootfs"
cid=$(docker create "$TAG")
docker export "$cid" | tar -C "$OUT/rootfs" -xf -
cp "$ROOT/config.json" "$OUT/config.json"
R=$OUT/rootfs
smoke_test
say "$OUT: $(du -sh "$R" | cut -f1) rootfs from the Dockerfile (BASE=$base_ref), $(($(date +%s%3N) - t0)) ms"
