#!/bin/bash
# ovsvlan quick start, as root on a Debian 12 machine:
#   installs what is missing (OVS, Docker, busybox), starts OVS and dockerd only
#   where they are not running, builds and starts the ovsvlan daemon, then shows
#   two containers on VLAN 860 talking and one on VLAN 861 unable to reach them.
# Leaves everything running; `scripts/quickstart.sh clean` removes what it made.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LOG=/var/log/ovsvlan
OVS_RUN=/var/run/openvswitch
DB=$(readlink -f /etc/openvswitch/conf.db)   # Debian links it to /var/lib/openvswitch
PIDFILE=/run/ovsvlan-quickstart.pid
say() { printf '\n== %s\n' "$*"; }

if [ "${1:-}" = clean ]; then
    docker rm -f qs-a1 qs-a2 qs-b1 >/dev/null 2>&1 || true
    docker network rm qs-v860 qs-v861 >/dev/null 2>&1 || true
    [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null && rm -f "$PIDFILE"
    echo "removed the quick start's containers and networks and stopped its ovsvlan daemon"
    exit 0
fi

[ "$(id -u)" = 0 ] || { echo "run as root: ovsvlan manages OVS ports and veths"; exit 1; }
mkdir -p "$LOG"

say "packages (only what is missing)"
bash scripts/install-deps.sh

say "build ovsvlan"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build

say "Open vSwitch"
if ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
    echo "already running"
else
    mkdir -p "$OVS_RUN" "$(dirname "$DB")"
    [ -f "$DB" ] || ovsdb-tool create "$DB" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$DB" --remote=punix:$OVS_RUN/db.sock --pidfile --detach --log-file="$LOG/ovsdb-server.log"
    ovs-vsctl --no-wait init
    ovs-vswitchd --pidfile --detach --log-file="$LOG/ovs-vswitchd.log"
    echo "started ovsdb-server and ovs-vswitchd (no kernel module needed: ovsvlan uses the userspace datapath when it is missing)"
fi

say "Docker"
if docker version >/dev/null 2>&1; then
    echo "already running"
else
    # no docker0, no NAT, no iptables: ovsvlan containers are on the physical network
    nohup dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false >"$LOG/dockerd.log" 2>&1 &
    for _ in $(seq 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
    docker version >/dev/null || { tail "$LOG/dockerd.log"; exit 1; }
    echo "started dockerd (log: $LOG/dockerd.log)"
fi

say "ovsvlan daemon"
if [ -S /run/docker/plugins/ovsvlan.sock ] && [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "already running (pid $(cat "$PIDFILE"))"
else
    nohup node "$ROOT/dist/main.js" daemon >>"$LOG/ovsvlan.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 50); do [ -S /run/docker/plugins/ovsvlan.sock ] && break; sleep 0.1; done
    echo "started (pid $(cat "$PIDFILE"), log: $LOG/ovsvlan.log)"
fi

say "image busybox:local (imported from the static busybox, no registry needed)"
if ! docker image inspect busybox:local >/dev/null 2>&1; then
    d=$(mktemp -d)
    mkdir -p "$d/bin" "$d/tmp" "$d/etc" "$d/proc" "$d/sys" "$d/dev"
    cp /bin/busybox "$d/bin/busybox"
    for a in sh ping nc ip sleep cat ls ifconfig route md5sum head; do ln -s busybox "$d/bin/$a"; done
    tar -C "$d" -c . | docker import -c 'ENV PATH=/bin' - busybox:local >/dev/null
    rm -rf "$d"
fi
echo ok

say "networks on VLAN 860 and 861 of bridge ovs0"
docker rm -f qs-a1 qs-a2 qs-b1 >/dev/null 2>&1 || true
docker network rm qs-v860 qs-v861 >/dev/null 2>&1 || true
set -x
docker network create -d ovsvlan --opt vlan=860 --subnet 10.13.160.0/24 --gateway 10.13.160.1 qs-v860
docker network create -d ovsvlan --opt vlan=861 --subnet 10.13.161.0/24 --gateway 10.13.161.1 qs-v861
docker run -d --name qs-a1 --net qs-v860 --ip 10.13.160.10 busybox:local sleep 1d
docker run -d --name qs-a2 --net qs-v860 --ip 10.13.160.11 busybox:local sleep 1d
docker run -d --name qs-b1 --net qs-v861 --ip 10.13.161.10 --cap-add NET_ADMIN busybox:local sleep 1d
# qs-b1 also takes an address inside VLAN 860's subnet: only the VLAN tag keeps it apart
docker exec qs-b1 ip addr add 10.13.160.99/24 dev eth0
{ set +x; } 2>/dev/null

say "OVS ports made by ovsvlan"
ovs-vsctl --columns=name,tag find Port external_ids:ovsvlan-owner=ovsvlan

say "VLAN 860: qs-a1 -> qs-a2"
if docker exec qs-a1 ping -c 3 -W 2 10.13.160.11; then echo "RESULT: same VLAN talks"; else echo "RESULT: FAILED, same VLAN should talk"; exit 1; fi
say "VLAN 861 -> VLAN 860: qs-b1 -> qs-a1 (same subnet, other VLAN)"
if docker exec qs-b1 ping -c 3 -W 1 10.13.160.10; then echo "RESULT: FAILED, VLANs should be isolated"; exit 1; else echo "RESULT: other VLAN is isolated"; fi
echo
echo "Containers qs-a1 qs-a2 qs-b1 are left running; 'bash scripts/quickstart.sh clean' removes them."
