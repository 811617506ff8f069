#!/bin/bash
# Installs the system packages the ovsvlan tests need (Debian 12), only those missing, and
# starts no service: the tests run their own ovsdb-server/ovs-vswitchd and dockerd per
# simulated host, and OVS's init script would try to load openvswitch.ko, which these
# machines lack. Idempotent; needs root. Node.js >= 20 and npm are checked, not installed.
# Usage: sudo bash scripts/install-deps.sh
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PKGS=(openvswitch-switch docker.io busybox-static ethtool tcpdump iproute2 util-linux)
POLICY=/usr/sbin/policy-rc.d

[ "$(id -u)" = 0 ] || { echo "install-deps: needs root" >&2; exit 1; }
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
    { echo "install-deps: needs a Debian-like system with apt (Debian 12 tested)" >&2; exit 1; }

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done

if [ ${#missing[@]} = 0 ]; then
    echo "install-deps: already installed: ${PKGS[*]}"
else
    echo "install-deps: installing ${missing[*]}"
    # a temporary policy-rc.d (exit 101 = "action forbidden") keeps the package scripts from
    # starting openvswitch-switch, docker, containerd; removed afterwards, only if made here
    made_policy=0
    cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$POLICY"; echo "install-deps: removed temporary $POLICY"; fi; }
    trap cleanup EXIT
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, scripts/install-deps.sh\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        made_policy=1
        echo "install-deps: temporary $POLICY (no service starts)"
    else
        echo "install-deps: keeping the existing $POLICY"
    fi
    if installed busybox && [[ " ${missing[*]} " == *" busybox-static "* ]]; then
        echo "install-deps: note: busybox-static replaces the dynamically linked busybox package"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    echo "install-deps: apt-get update"
    apt-get "${apt_opts[@]}" update -qq
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"
    for p in "${missing[@]}"; do
        installed "$p" || { echo "install-deps: $p did not install" >&2; exit 1; }
    done
    echo "install-deps: installed ${missing[*]}"
fi

# what the tests actually run
fail=0
for b in ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl ovs-ofctl dockerd docker containerd runc \
    busybox ethtool tcpdump ip nsenter unshare mount tar; do
    command -v "$b" >/dev/null || { echo "install-deps: missing binary: $b" >&2; fail=1; }
done
[ -f /usr/share/openvswitch/vswitch.ovsschema ] ||
    { echo "install-deps: missing /usr/share/openvswitch/vswitch.ovsschema" >&2; fail=1; }
# busybox:local is imported from /bin/busybox: it must be the static one
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
    echo "install-deps: /bin/busybox is missing or dynamically linked (busybox-static expected)" >&2; fail=1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "install-deps: node and npm are needed (Node.js >= 20; not installed by this script)" >&2; fail=1
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "install-deps: Node.js >= 20 needed, found $(node --version)" >&2; fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "install-deps: ok ($(ovs-vswitchd --version | head -1); $(dockerd --version); node $(node --version))"
