#!/bin/bash
# Removes what crashed ovsvlan test runs left behind: everything named with the test
# prefix pattern ot[0-9a-f]{4} (test/helpers/run.ts: RUN_PREFIX).
#  * processes: only PIDs recorded in pidfiles under /run/ovsvlan-test/<prefix>/ (dockerd
#    first, so it stops its containers while the plugin still answers; then the rest:
#    plugin, managed containerd, shims, container init, OVS daemons), and only when the
#    process still belongs to the run (prefix in its command line, environment or cgroup);
#  * processes inside a private mount namespace of the run (fresh-*/mnt), which is then unmounted;
#  * netns ^ot[0-9a-f]{4}-, dirs /run/ovsvlan-test/<prefix> and /var/lib/<prefix>-docker-*,
#    empty cgroup dirs <prefix>-docker-*.
# A run whose owner (owner.pid, the test process) is still alive is left alone, so this is
# safe while other test runs go on; --force cleans those too.
# Usage: sudo bash scripts/cleanup-tests.sh [--force] [--run PREFIX]   (--run: that run only)
set -uo pipefail
BASE=/run/ovsvlan-test
PAT='ot[0-9a-f][0-9a-f][0-9a-f][0-9a-f]'
FORCE=0 ONLY=0
while [ $# -gt 0 ]; do
    case $1 in
        --force) FORCE=1 ;;
        --run) ONLY=1 PAT=${2:?--run needs a prefix}; [[ $PAT =~ ^ot[0-9a-f]{4}$ ]] || { echo "cleanup-tests: not a run prefix: $PAT" >&2; exit 2; }; shift ;;
        *) echo "cleanup-tests: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "cleanup-tests: needs root" >&2; exit 1; }

# running and not a zombie (PID 1 on these VMs reaps re-parented daemons late)
alive() {
    [ -r "/proc/$1/stat" ] || return 1
    local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}
# does PID $1 still belong to run $2 (guards against PID reuse)?
owned() {
    local f
    for f in cmdline environ cgroup; do
        tr '\0' ' ' <"/proc/$1/$f" 2>/dev/null | grep -q -- "$2" && return 0
    done
    return 1
}
stop_pid() { # pid prefix wait-seconds
    local pid=$1 i
    alive "$pid" && owned "$pid" "$2" || return 0
    echo "  stop $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-100)"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < $3 * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
}
pid_in() { [ -f "$1" ] && tr -dc '0-9' <"$1"; }

live=()
for d in "$BASE"/$PAT; do
    [ -d "$d" ] || continue
    p=${d##*/}
    o=$(pid_in "$d/owner.pid")
    if [ "$FORCE" = 0 ] && [ -n "$o" ] && alive "$o"; then
        echo "skip $p: its test process $o is still running (--force to clean it anyway)"
        live+=("$p")
        continue
    fi
    echo "clean $p"
    # private mount namespaces (test/helpers/fresh-root.ts): whatever runs inside was started by that
    # run (a PID reused since is in no such namespace); then the containers of its dockerds (cgroup
    # $p-docker-*), then unmount
    for f in "$d"/fresh-*/mnt; do
        findmnt "$f" >/dev/null 2>&1 || continue
        ns="mnt:[$(stat -L -c %i "$f")]"
        members() { local q; for q in /proc/[0-9]*; do [ "$(readlink "$q/ns/mnt" 2>/dev/null)" != "$ns" ] || echo "${q#/proc/}"; done; }
        for q in $(members); do echo "  stop $q: $(tr '\0' ' ' <"/proc/$q/cmdline" | cut -c1-100)"; kill -TERM "$q" 2>/dev/null; done
        for ((i = 0; i < 100; i++)); do [ -n "$(members)" ] || break; sleep 0.1; done
        for q in $(members); do kill -KILL "$q" 2>/dev/null; done
        cat /sys/fs/cgroup/"$p"-docker-*/*/cgroup.procs /sys/fs/cgroup/*/"$p"-docker-*/*/cgroup.procs 2>/dev/null | sort -u |
            while read -r q; do kill -KILL "$q" 2>/dev/null; done
        umount "$f"; umount "${f%/mnt}"
    done
    for pf in "$d"/docker-*.pid; do
        [ -f "$pf" ] && stop_pid "$(pid_in "$pf")" "$p" 40
    done
    while IFS= read -r pf; do
        [ -n "$(pid_in "$pf")" ] && stop_pid "$(pid_in "$pf")" "$p" 10
    done < <(find "$d" -name '*.pid' ! -name owner.pid -type f 2>/dev/null)
    rm -rf "$d"
done
is_live() { local l; for l in "${live[@]}"; do [ "$l" = "$1" ] && return 0; done; return 1; }

for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PAT-"); do
    is_live "${n%%-*}" || { echo "  netns del $n"; ip netns del "$n"; }
done
for d in /var/lib/$PAT-docker-*; do
    [ -d "$d" ] || continue
    p=${d#/var/lib/}; p=${p%%-*}
    is_live "$p" || { echo "  rm $d"; rm -rf "$d"; }
done
for c in /sys/fs/cgroup/$PAT-docker-* /sys/fs/cgroup/*/$PAT-docker-*; do
    [ -d "$c" ] || continue
    p=${c##*/}; p=${p%%-*}
    is_live "$p" || find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# the bind-mount targets test/helpers/dockerd.ts had to create, once no run needs them
if [ "$ONLY" = 0 ] && [ ${#live[@]} = 0 ] && [ -f "$BASE/created-mountpoints" ]; then
    while IFS= read -r m; do
        # the machine's own dockerd may be using its (empty) plugin dir by now
        case $m in /run/docker/plugins | /run/docker) [ -e /run/docker.sock ] && continue;; esac
        case $m in /run/docker/plugins | /run/docker | /run/containerd | /run/openvswitch)
            rmdir "$m" 2>/dev/null && echo "  rmdir $m";;
        esac
    done <"$BASE/created-mountpoints"
    rm -f "$BASE/created-mountpoints"
fi
# empty run dirs of finished runs (no owner file, or a dead owner) were removed above
[ "$ONLY" = 0 ] && [ ${#live[@]} = 0 ] && rmdir "$BASE" 2>/dev/null
echo "cleanup-tests: done${live[*]:+ (left running: ${live[*]})}"
exit 0
