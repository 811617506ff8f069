#!/bin/bash
# Installs what ovsvlan's tests (default) or its quick start (--quickstart) run, judged by the
# binaries on PATH, not by Debian package names: a Docker (Docker CE, a static build) or an Open
# vSwitch (built from source) that is already there is used as it is, never replaced or shadowed.
#  * Docker: `dockerd` found → docker.io is never installed; its docker, containerd and runc must
#    be found too. Open vSwitch: `ovs-vswitchd` or `ovsdb-server` found → openvswitch-switch is
#    never installed and the other OVS tools must be found too, unless every OVS program found is
#    Debian's own (openvswitch-common alone holds ovsdb-server): then openvswitch-switch completes it.
#  * Node.js >= 20.3 (package.json's engines) and npm are checked, not installed.
#  * Whatever is missing comes from Debian 12 packages (apt), unless apt would remove a package to
#    install it (e.g. docker.io conflicts with docker-ce-cli): then nothing is installed and the
#    conflict is named. The one removal allowed is busybox → busybox-static (same tool, linked
#    statically: images are built from it).
#  * Starts no service: a temporary /usr/sbin/policy-rc.d ("exit 101", only if none exists) keeps
#    the package scripts from starting openvswitch-switch, docker and containerd; the tests run
#    their own daemons and OVS's init script would load openvswitch.ko, which some machines lack.
#  * etcd (tests only: etcd, etcdctl from Debian's etcd-server 3.4 and etcd-client): the tests run
#    their own members; etcd-server's postinst enables etcd.service for boot, so when installed here
#    that unit is disabled again (and stopped, had a policy-rc.d of the machine let it start).
# Quiet when everything is present (one line). Idempotent; needs root only to install.
# Usage: bash scripts/install-deps.sh [--quickstart] [--record FILE] [--dry-run]
#   --quickstart   only what scripts/quickstart.sh runs (no tcpdump, no /usr/share schema check)
#   --record FILE  append the names of the packages installed here to FILE, one a line
#   --dry-run      print what would be installed (or why nothing can be) and change nothing
# Example: bash scripts/install-deps.sh --quickstart --dry-run
[ -n "${BASH_VERSION:-}" ] || { echo "install-deps: run it with bash: bash $0" >&2; exit 2; }   # sh (dash) stops at set -E
set -Eeuo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POLICY=/usr/sbin/policy-rc.d
PROFILE=tests
RECORD=
DRY_RUN=0
while [ $# -gt 0 ]; do
    case $1 in
        --quickstart) PROFILE=quickstart ;;
        --record)   # a file, never the next flag
            [[ ${2:-} != "" && ${2:-} != -* ]] || { echo "install-deps: --record needs a file (see --help)" >&2; exit 2; }
            RECORD=$2; shift ;;
        --record=*) RECORD=${1#--record=} ;;
        --dry-run) DRY_RUN=1 ;;
        -h | --help) sed -n '2,/^set -E/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "install-deps: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
    esac
    shift
done

STEP="start"
HINT=""
trap 'echo "install-deps: FAILED while $STEP (exit $?): $BASH_COMMAND${HINT:+
install-deps: what to do: $HINT}" >&2' ERR
die() { echo "install-deps: $1" >&2; [ -z "${2:-}" ] || echo "install-deps: what to do: $2" >&2; exit 1; }
have() { local p; p=$(command -v "$1") && [ -x "$p" ]; }
path_of() { local p; p=$(command -v "$1") && [ -x "$p" ] && echo "$p"; }   # only an executable

# binary → the Debian package that provides it
declare -A PKG=(
    [ovs-vswitchd]=openvswitch-switch [ovsdb-server]=openvswitch-switch [ovsdb-tool]=openvswitch-switch
    [ovs-vsctl]=openvswitch-switch [ovs-appctl]=openvswitch-switch [ovs-ofctl]=openvswitch-switch
    [dockerd]=docker.io [docker]=docker.io [containerd]=docker.io [runc]=docker.io
    [busybox]=busybox-static [ethtool]=ethtool [tcpdump]=tcpdump [ip]=iproute2
    [pgrep]=procps [nsenter]=util-linux [unshare]=util-linux [setsid]=util-linux [findmnt]=util-linux
    [mount]=mount [tar]=tar [systemd-analyze]=systemd [etcd]=etcd-server [etcdctl]=etcd-client
    [dnsmasq]=dnsmasq-base
)
OVS_BINS=(ovs-vswitchd ovsdb-server ovsdb-tool ovs-vsctl ovs-appctl ovs-ofctl)
DOCKER_BINS=(dockerd docker containerd runc)
# busybox and nsenter: DHCP networks' client (udhcpc) and its way into a container's netns (src/dhcp/)
OTHER_BINS=(busybox ethtool ip nsenter setsid tar pgrep)
# systemd-analyze: the tests verify the service unit with it
[ "$PROFILE" = tests ] && OTHER_BINS+=(tcpdump unshare findmnt mount systemd-analyze)
# etcd: the cluster-mode tests start three members of their own (test/helpers/etcd.ts)
[ "$PROFILE" = tests ] && OTHER_BINS+=(etcd etcdctl)
# dnsmasq: the DHCP tests' server, run only inside a test netns (test/helpers/dnsmasq.ts); dnsmasq-base has no service
[ "$PROFILE" = tests ] && OTHER_BINS+=(dnsmasq)

# what is wrong with Node.js, if anything (package.json: "engines": { "node": ">=20.3" })
node_problem() {
    local where="not installed by this script: see https://nodejs.org or NodeSource's Debian packages"
    if ! have node || ! have npm; then echo "node and npm are needed (Node.js >= 20.3; $where)"; return 1; fi
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 3) ? 0 : 1)' && return 0
    echo "Node.js >= 20.3 needed, found $(node --version) (Debian 12 ships 18; $where)"; return 1
}
missing_of() { local b; for b in "$@"; do have "$b" || echo "$b"; done; }
# do the programs found among these all come from Debian packages named PREFIX-*?
debians_own() { # PREFIX PROGRAM...
    local prefix=$1 b p owner; shift
    for b in "$@"; do
        p=$(path_of "$b") || continue
        owner=$(dpkg -S "$(readlink -f "$p")" 2>/dev/null | head -1) || return 1
        [[ $owner == "$prefix"-*:* ]] || return 1
    done
}
static_busybox() { local b; b=$(command -v busybox) && ! ldd "$b" >/dev/null 2>&1; }

STEP="looking for what is missing"
want=()
# Open vSwitch: either it is there (then it is complete), or it is Debian's own and incomplete
# (openvswitch-common alone holds ovsdb-server, ovsdb-tool, ovs-appctl, ovs-ofctl: the switch
# package completes it), or it is installed whole
mapfile -t m < <(missing_of "${OVS_BINS[@]}")
if [ ${#m[@]} = 0 ]; then
    :
elif [ ${#m[@]} = ${#OVS_BINS[@]} ] || debians_own openvswitch "${OVS_BINS[@]}"; then
    want+=(openvswitch-switch)
elif have ovs-vswitchd || have ovsdb-server; then
    die "Open vSwitch found ($(path_of ovs-vswitchd || path_of ovsdb-server), not Debian's) but not: ${m[*]}" \
        "install those tools from the same Open vSwitch build (install-deps never adds Debian's openvswitch-switch next to another OVS)"
else
    want+=(openvswitch-switch)   # only client tools of another build, no switch or database server: add Debian's
fi
# Docker: judged by dockerd
mapfile -t m < <(missing_of "${DOCKER_BINS[@]}")
if ! have dockerd; then
    want+=(docker.io)
elif [ ${#m[@]} != 0 ]; then
    die "dockerd found ($(path_of dockerd)) but not: ${m[*]}" \
        "install them from the same Docker (Docker CE: docker-ce-cli, containerd.io); install-deps never adds docker.io next to another Docker"
fi
for b in "${OTHER_BINS[@]}"; do
    if [ "$b" = busybox ]; then static_busybox || want+=(busybox-static)
    else have "$b" || want+=("${PKG[$b]}"); fi
done
mapfile -t want < <(printf '%s\n' "${want[@]}" | awk 'NF && !seen[$0]++')

if [ "$DRY_RUN" = 1 ]; then
    if [ ${#want[@]} = 0 ]; then echo "install-deps: dry run: nothing to install"
    else echo "install-deps: dry run: would install ${want[*]}"; fi
    problem=$(node_problem) || die "$problem"
    exit 0
fi
if [ ${#want[@]} != 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing: ${want[*]}" "run as root to install them: sudo bash $0${*:+ $*}"
    if ! have apt-get; then
        die "missing: ${want[*]} (Debian package names), and there is no apt here" \
            "install the equivalents with your package manager, then run this again"
    fi
    echo "install-deps: installing ${want[*]}"
    # a temporary policy-rc.d (exit 101 = "action forbidden") keeps the package scripts from
    # starting openvswitch-switch, docker, containerd; removed afterwards, only if made here
    made_policy=0
    trap '[ "$made_policy" = 0 ] || rm -f "$POLICY"' EXIT
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\n# temporary, scripts/install-deps.sh\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    STEP="apt-get update"
    HINT="check the network and /etc/apt/sources.list (apt-get update must work), then run this again"
    apt-get "${apt_opts[@]}" update -qq
    STEP="checking that apt removes nothing"
    HINT="apt could not resolve ${want[*]}: see its message above"
    sim=$(apt-get "${apt_opts[@]}" install -s --no-install-recommends "${want[@]}")
    removes=$(awk '$1 == "Remv" { print $2 }' <<<"$sim" | grep -vx busybox || true)
    [ -z "$removes" ] || die "installing ${want[*]} would remove: $(tr "\n" " " <<<"$removes")" \
        "that is software you run: install what is missing from the same source as it (e.g. Docker CE's packages), then run this again"
    # what --record lists: packages dpkg did not have (a missing binary may also be a broken install)
    new=()
    for p in "${want[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || new+=("$p")
    done
    STEP="apt-get install ${want[*]}"
    HINT="see apt's message above; fix it (apt-get -f install, a held package, disk space), then run this again"
    apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${want[@]}" >/dev/null
    if printf '%s\n' "${new[@]}" | grep -qx etcd-server; then
        # its postinst enabled etcd.service (and the sysv link) for boot: no system etcd is wanted here
        STEP="disabling the etcd service etcd-server enabled"
        deb-systemd-helper disable etcd.service >/dev/null 2>&1 || true
        [ ! -x /etc/init.d/etcd ] || update-rc.d etcd disable >/dev/null 2>&1 || true
        [ ! -d /run/systemd/system ] || systemctl stop etcd.service >/dev/null 2>&1 || true
    fi
    [ -z "$RECORD" ] || [ ${#new[@]} = 0 ] || printf '%s\n' "${new[@]}" >>"$RECORD"
    echo "install-deps: installed ${want[*]}"
fi

STEP="checking the result"
HINT=""
fail=()
for b in "${OVS_BINS[@]}" "${DOCKER_BINS[@]}" "${OTHER_BINS[@]}"; do have "$b" || fail+=("missing $b (Debian: ${PKG[$b]})"); done
static_busybox || fail+=("busybox is missing or dynamically linked (Debian: busybox-static): images are built from it")
if [ "$PROFILE" = tests ]; then
    # test/helpers/ovs.ts creates its databases from this schema
    [ -f /usr/share/openvswitch/vswitch.ovsschema ] || fail+=("missing /usr/share/openvswitch/vswitch.ovsschema (the tests read the schema there)")
    [ "$(readlink -f "$(command -v busybox)")" = "$(readlink -f /bin/busybox)" ] || fail+=("the tests copy /bin/busybox: it must be the static busybox on PATH")
fi
problem=$(node_problem) || fail+=("$problem")
if [ ${#fail[@]} != 0 ]; then
    printf 'install-deps: %s\n' "${fail[@]}" >&2
    exit 1
fi
echo "install-deps: ok ($(ovs-vswitchd --version | head -1 | sed 's/.*) //; s/^/Open vSwitch /'), $(dockerd --version | cut -d, -f1), node $(node --version))"
