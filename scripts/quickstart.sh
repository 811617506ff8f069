#!/bin/bash
# ovsvlan quick start, as root on Debian 12: on a fresh machine, or on one already running Docker
# or Open vSwitch (those are used as they are, never replaced, restarted or reconfigured).
#  1. installs only what is missing, judged by the binaries on PATH (install-deps.sh --quickstart);
#  2. starts ovsdb-server + ovs-vswitchd (directly: no kernel module needed) where OVS is not
#     running, and dockerd (--bridge=none --iptables=false --ip-forward=false --ip-masq=false)
#     where Docker is not running;
#  3. builds ovsvlan if dist/ is missing or older than src/, and starts its daemon unless one
#     already serves /run/docker/plugins/ovsvlan.sock;
#  4. on its own bridge ovsvlan-qs (no uplink: no frame leaves the host), creates networks
#     ovsvlan-qs-v860 (VLAN 860, 192.0.2.0/24) and ovsvlan-qs-v861 (VLAN 861, 198.51.100.0/24),
#     documentation subnets (RFC 5737), and shows containers ovsvlan-qs-a1 and ovsvlan-qs-a2 on
#     860 talking, and ovsvlan-qs-b1 on 861, although it holds 192.0.2.99, unable to reach them.
# Everything it makes (processes with their PIDs, files and dirs, image, containers, networks,
# bridge, packages) is recorded in /var/lib/ovsvlan-quickstart/manifest; `quickstart.sh clean`
# removes exactly that and nothing that was there before. Packages it installed are listed
# with the command that removes them, not removed.
# What it starts keeps its files in /var/lib/ovsvlan-quickstart (OVS database, Docker data-root,
# ovsvlan state, logs) and /run/ovsvlan-quickstart; sockets are where the tools look by default
# (OVS's run dir, /var/run/docker.sock, /run/docker/plugins/ovsvlan.sock), so `ovs-vsctl show`
# and `docker ps` work as usual.
# Usage: bash scripts/quickstart.sh [clean | --help]
#   (nothing)  the quick start; run it again at any time, also after a run stopped halfway
#   clean      removes what the manifest lists (exit 1, manifest kept, if something could not go)
#   --help     this text
# Environment, for tests (the defaults are right for a machine):
#   OVSVLAN_QS_CGROUP_PARENT  --cgroup-parent of a dockerd started here (default: Docker's own);
#                             clean removes that cgroup dir once empty, if it made it.
[ -n "${BASH_VERSION:-}" ] || { echo "quickstart: run it with bash: bash $0" >&2; exit 2; }   # sh (dash) stops at set -E
set -Eeuo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
cd "$(dirname "$0")/.."
ROOT=$PWD
QS_DIR=/var/lib/ovsvlan-quickstart
QS_RUN=/run/ovsvlan-quickstart
MANIFEST=$QS_DIR/manifest
LOG=$QS_DIR/log
LABEL=ovsvlan-quickstart=1
BRIDGE=ovsvlan-qs
IMAGE=ovsvlan-qs-busybox:latest
PLUGIN_SOCK=/run/docker/plugins/ovsvlan.sock
DOCKER_SOCK=/var/run/docker.sock
# the OVS tools' compiled-in database socket: /var/run/openvswitch/db.sock for Debian's packages
OVS_DB_SOCK=$(ovs-vsctl --help 2>/dev/null | sed -n 's/.*(default: unix:\(.*\))$/\1/p' | head -1 || true)
OVS_DB_SOCK=${OVS_DB_SOCK:-/var/run/openvswitch/db.sock}
OVS_RUN=$(dirname "$OVS_DB_SOCK")

STEP=start HINT=""
say() { printf '\n== %s\n' "$*"; }
step() { STEP=$1; HINT=$2; say "$1"; }
show() { printf '+ %s\n' "$*" >&2; "$@"; }
# every failure says what failed and what to do, then stops
report() { # WHAT
    echo "quickstart: FAILED at \"$STEP\": $1" >&2
    [ -z "$HINT" ] || echo "quickstart: what to do: $HINT" >&2
    [ ! -s "$MANIFEST" ] || echo "quickstart: what it made so far is listed in $MANIFEST: run the quick start again once that is fixed (it goes on from there), or 'bash scripts/quickstart.sh clean' to remove it" >&2
}
on_err() {
    local rc=$?
    [ "$BASHPID" = $$ ] || exit "$rc"   # a $(…) subshell: the caller reports
    report "exit $rc of: $BASH_COMMAND"
    exit "$rc"
}
trap on_err ERR
fail() { HINT=${2:-$HINT}; report "$1"; exit 1; }

# the manifest, the daemons it starts, clean
. "$ROOT/scripts/quickstart-manifest.sh"

for a in "$@"; do
    case $a in -h | --help) sed -n '2,/^set -E/s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
done
case $#:${1:-} in
    0: | 1:clean) ;;
    *) echo "quickstart: unknown argument(s) \"$*\"; usage: bash scripts/quickstart.sh [clean] (--help: what it does)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (sudo bash $0): it starts OVS and Docker and creates OVS ports and veths" >&2; exit 1; }
if [ "${1:-}" = clean ]; then clean; exit; fi

if [ ! -d "$QS_DIR" ]; then mkdir -p "$QS_DIR"; : >"$MANIFEST"; record made-dir "$QS_DIR"; fi
[ -f "$MANIFEST" ] || fail "$QS_DIR exists but holds no manifest: it was not made by the quick start" \
    "move $QS_DIR away (the quick start keeps its files there), then run this again"
mkdir -p "$LOG"

step "packages: only what is missing, judged by the binaries on PATH" "read the install-deps message above"
bash scripts/install-deps.sh --quickstart --record "$QS_DIR/packages.new"
if [ -f "$QS_DIR/packages.new" ]; then
    while read -r p; do record package "$p"; done <"$QS_DIR/packages.new"
    rm -f "$QS_DIR/packages.new"
fi

step "build ovsvlan" "run 'npm ci && npm run build' in $ROOT and fix what it reports"
# node_modules/ and dist/ in the clone are the quick start's when it makes them: clean removes them then
if [ ! -x node_modules/.bin/tsc ]; then   # absent, or an npm ci stopped halfway
    [ -e node_modules ] || record made-dir "$ROOT/node_modules"
    npm ci --no-audit --no-fund
fi
if [ ! -f dist/main.js ] || [ -n "$(find src package.json package-lock.json tsconfig.json -newer dist/main.js -print -quit)" ]; then
    [ -e dist ] || record made-dir "$ROOT/dist"
    npm run --silent build
    echo "built dist/"
else
    echo "dist/ is up to date"
fi

step "Open vSwitch" "read the message above, $LOG/ovsdb-server.log and $LOG/ovs-vswitchd.log"
if vsctl --timeout=5 show >/dev/null 2>&1; then
    echo "ovsdb-server: already running ($OVS_DB_SOCK)"
    adopt ovsdb-server "$(cat "$OVS_RUN/ovsdb-server.pid" 2>/dev/null)"
elif ovs-appctl -t ovs-vswitchd version >/dev/null 2>&1; then
    fail "ovs-vswitchd runs but no database answers on $OVS_DB_SOCK" "restart Open vSwitch (systemctl restart openvswitch-switch), then run this again"
else
    schema=$(dirname "$(dirname "$(command -v ovsdb-server)")")/share/openvswitch/vswitch.ovsschema
    [ -f "$schema" ] || schema=/usr/share/openvswitch/vswitch.ovsschema
    [ -f "$schema" ] || fail "vswitch.ovsschema not found next to $(command -v ovsdb-server)" "reinstall Open vSwitch"
    start_ovsdb_server "$schema"
    echo "ovsdb-server: started (database $QS_DIR/ovs/conf.db, socket $OVS_DB_SOCK)"
fi
if ovs-appctl -t ovs-vswitchd version >/dev/null 2>&1; then
    echo "ovs-vswitchd: already running"
    adopt ovs-vswitchd "$(cat "$OVS_RUN/ovs-vswitchd.pid" 2>/dev/null)"
else
    start_ovs_vswitchd
    if [ -d /sys/module/openvswitch ]; then echo "ovs-vswitchd: started (the openvswitch kernel module is loaded: ovsvlan uses the kernel datapath)"
    else echo "ovs-vswitchd: started (without the openvswitch kernel module, ovsvlan uses the userspace datapath)"; fi
fi

step "Docker" "read $LOG/dockerd.log"
if v=$(docker_up); then
    echo "dockerd: already running (Docker $v)"
    adopt dockerd "$(cat "$QS_RUN/dockerd.pid" 2>/dev/null)"
else
    note_absent "$DOCKER_SOCK" /run/docker /run/docker/netns /run/docker/plugins /run/containerd /etc/docker \
        /var/lib/docker /var/lib/containerd
    mkdir -p "$QS_DIR/docker" "$QS_RUN"
    record made-dir "$QS_RUN"
    # its own config file: an operator's /etc/docker/daemon.json is neither read nor written;
    # deprecated-key-path keeps dockerd 20.10 from writing /etc/docker/key.json
    printf '{ "deprecated-key-path": "%s" }\n' "$QS_DIR/docker/key.json" >"$QS_DIR/docker/daemon.json"
    args=(--config-file "$QS_DIR/docker/daemon.json" --data-root "$QS_DIR/docker/data" --exec-root "$QS_RUN/docker"
        --pidfile "$QS_RUN/dockerd.pid" -H "unix://$DOCKER_SOCK"
        --bridge=none --iptables=false --ip-forward=false --ip-masq=false)   # no docker0, no NAT, no iptables
    cgroup=${OVSVLAN_QS_CGROUP_PARENT:-docker}
    [ -z "${OVSVLAN_QS_CGROUP_PARENT:-}" ] || args+=(--cgroup-parent "$OVSVLAN_QS_CGROUP_PARENT")
    compgen -G "/sys/fs/cgroup/${cgroup#/}" >/dev/null || compgen -G "/sys/fs/cgroup/*/${cgroup#/}" >/dev/null ||
        record cgroup "${cgroup#/}"
    printf '%s\n' "${args[@]}" >"$QS_DIR/docker/args"   # for clean, should it have to start it again
    setsid dockerd "${args[@]}" </dev/null >>"$LOG/dockerd.log" 2>&1 &
    record_pid dockerd $!
    export DOCKER_HOST="unix://$DOCKER_SOCK"
    for _ in $(seq 120); do v=$(docker_up) && break; kill -0 $! 2>/dev/null || break; sleep 0.5; done
    if [ -z "${v:-}" ]; then tail -n 15 "$LOG/dockerd.log" >&2; fail "dockerd did not come up (its log ends above)"; fi
    echo "dockerd: started (Docker $v, data in $QS_DIR/docker, log $LOG/dockerd.log)"
fi

step "ovsvlan daemon" "read $LOG/ovsvlan.log"
if plugin_answers; then
    echo "ovsvlan: already serving $PLUGIN_SOCK"
    adopt ovsvlan "$(pgrep -f -- "--state-dir $QS_DIR/ovsvlan" | head -1 || true)"
else
    start_ovsvlan || { tail -n 15 "$LOG/ovsvlan.log" >&2; fail "the ovsvlan daemon does not answer on $PLUGIN_SOCK (its log ends above)"; }
    echo "ovsvlan: started (pid $OVSVLAN_PID, state in $QS_DIR/ovsvlan, log $LOG/ovsvlan.log)"
fi

step "image $IMAGE, imported from the static busybox (no registry needed)" "check that 'docker import' works (docker info)"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "already there"
else
    record image "$IMAGE"   # before it exists: clean removes it if there
    tmp=$(mktemp -d "$QS_DIR/rootfs.XXXXXX")   # in the quick start's dir: clean removes it, should this stop halfway
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp"/{bin,tmp,etc,proc,sys,dev}
    cp "$(command -v busybox)" "$tmp/bin/busybox"
    for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$tmp/bin/$a"; done
    tar -C "$tmp" -c . | docker import -c 'ENV PATH=/bin' - "$IMAGE" >/dev/null
    rm -rf "$tmp"
    echo "imported"
fi

step "bridge $BRIDGE, networks on VLAN 860 and 861, three containers" "read $LOG/ovsvlan.log and 'docker network inspect'"
for c in ovsvlan-qs-a1 ovsvlan-qs-a2 ovsvlan-qs-b1; do
    if docker container inspect "$c" >/dev/null 2>&1; then
        labelled container "$c" || fail "a container named $c exists and the quick start did not make it" "rename or remove it, then run this again"
        docker rm -f "$c" >/dev/null   # left by an earlier run
    fi
done
for n in ovsvlan-qs-v860 ovsvlan-qs-v861; do
    if docker network inspect "$n" >/dev/null 2>&1; then
        labelled network "$n" || fail "a network named $n exists and the quick start did not make it" "rename or remove it, then run this again"
        docker network rm "$n" >/dev/null
    fi
done
if vsctl br-exists "$BRIDGE" && ! recorded bridge | grep -qx "$BRIDGE"; then
    fail "OVS bridge $BRIDGE exists and the quick start did not make it" "if it is a leftover, remove it (ovs-vsctl del-br $BRIDGE); then run this again"
fi
vsctl br-exists "$BRIDGE" || record bridge "$BRIDGE"   # ovsvlan makes it with the first network
for vlan in 860:192.0.2 861:198.51.100; do
    net=ovsvlan-qs-v${vlan%%:*} p=${vlan#*:}
    record network "$net"   # clean removes it only if it carries the label
    show docker network create -d ovsvlan --label "$LABEL" --opt bridge="$BRIDGE" --opt vlan="${vlan%%:*}" \
        --subnet "$p.0/24" --gateway "$p.1" "$net" >/dev/null
done
echo "# (docker run warns that IPv4 forwarding is disabled: that is about Docker's NAT, which ovsvlan containers do not use)"
for c in a1:860:192.0.2.10: a2:860:192.0.2.11: b1:861:198.51.100.10:NET_ADMIN; do
    IFS=: read -r name vlan ip cap <<<"$c"
    record container "ovsvlan-qs-$name"
    show docker run -d --name "ovsvlan-qs-$name" --label "$LABEL" --net "ovsvlan-qs-v$vlan" --ip "$ip" \
        ${cap:+--cap-add "$cap"} "$IMAGE" sleep 1d >/dev/null
done
echo "# ovsvlan-qs-b1 also takes an address in VLAN 860's subnet: only the VLAN tag keeps it apart"
show docker exec ovsvlan-qs-b1 ip addr add 192.0.2.99/24 dev eth0

say "OVS ports ovsvlan made on $BRIDGE (a spare is made ready for the network's next container)"
for p in $(vsctl list-ports "$BRIDGE"); do
    echo "  $p tag=$(vsctl get Port "$p" tag) $(vsctl --if-exists get Port "$p" external_ids:ovsvlan-role | tr -d '"')"
done

step "VLAN 860: ovsvlan-qs-a1 -> ovsvlan-qs-a2" "read $LOG/ovsvlan.log, 'ovs-vsctl show' and 'docker exec ovsvlan-qs-a1 ip addr'"
docker exec ovsvlan-qs-a1 ping -c 3 -W 2 192.0.2.11 || fail "VLAN 860 does not talk"
echo "RESULT: VLAN 860 talks"
step "VLAN 861 -> VLAN 860: ovsvlan-qs-b1 (192.0.2.99) -> ovsvlan-qs-a1 (192.0.2.10)" "read 'ovs-vsctl list Port' (tags) and $LOG/ovsvlan.log"
if docker exec ovsvlan-qs-b1 ping -c 3 -W 1 192.0.2.10; then fail "VLAN 861 reaches VLAN 860: VLANs are not isolated"; fi
echo "RESULT: VLAN 861 is isolated"

echo
echo "quick start: 860 talks, 861 isolated."
echo "Left running: containers ovsvlan-qs-a1 ovsvlan-qs-a2 ovsvlan-qs-b1, networks ovsvlan-qs-v860 ovsvlan-qs-v861$(
    recorded pid | while read -r name pid start; do ! ours_alive "$pid" "$start" || printf ', %s (pid %s)' "$name" "$pid"; done)."
echo "Try: docker exec -it ovsvlan-qs-a1 sh; ovs-vsctl show. Remove all the quick start made: bash scripts/quickstart.sh clean"
