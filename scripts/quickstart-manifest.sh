# Sourced by scripts/quickstart.sh: the manifest of what the quick start made
# (/var/lib/ovsvlan-quickstart/manifest), the daemons it starts and stops, and `clean`, which
# removes exactly what the manifest lists. Uses the settings and say/show of quickstart.sh.

# manifest lines: made-dir PATH | shared PATH | pid NAME PID STARTTIME | package NAME |
# image NAME | network NAME | container NAME | bridge NAME | cgroup NAME
# (a "shared" path did not exist when the quick start was about to start what makes it: clean
# removes it if there, a dir only if it holds nothing but empty dirs. What clean removes is
# recorded before it is made, so a run stopped halfway leaves nothing clean does not know of.)
record() { grep -qxF -- "$*" "$MANIFEST" 2>/dev/null || echo "$*" >>"$MANIFEST"; }
recorded() { [ -f "$MANIFEST" ] && awk -v k="$1" 'index($0, k " ") == 1 { print substr($0, length(k) + 2) }' "$MANIFEST"; }   # the rest of the line, as written
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
# is PID (started at START) still the process we started? (PIDs get reused)
ours_alive() {
    local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$(starttime "$1")" = "$2" ]
}
record_pid() { record pid "$1" "$2" "$(starttime "$2")"; }
# paths in shared places that do not exist yet, about to be made by what the quick start starts
note_absent() { local p; for p in "$@"; do [ -e "$p" ] || [ -L "$p" ] || record shared "$p"; done; }
# a daemon that a quick start stopped halfway started but did not record: its command line names
# the quick start's own files; recorded now, so that clean stops it
adopt() { # NAME PID
    [ -n "$2" ] && tr '\0' ' ' <"/proc/$2/cmdline" 2>/dev/null | grep -qF -- "$QS_DIR/" || return 0
    recorded pid | grep -q "^$1 $2 " && return 0
    record_pid "$1" "$2"
    echo "  ($1, pid $2, was started by an earlier quick start: recorded for clean)"
}
vsctl() { ovs-vsctl --db="unix:$OVS_DB_SOCK" "$@"; }
docker_up() { docker version --format '{{.Server.Version}}' 2>/dev/null; }
plugin_answers() { # POST /Plugin.Activate on the socket: is a network driver serving it?
    node -e 'const r = require("http").request({ socketPath: process.argv[1], path: "/Plugin.Activate", method: "POST", timeout: 3000 },
      (res) => { let b = ""; res.on("data", (d) => (b += d)); res.on("end", () => process.exit(res.statusCode === 200 && b.includes("NetworkDriver") ? 0 : 1)); });
      r.on("error", () => process.exit(1)); r.on("timeout", () => r.destroy()); r.end("{}");' "$PLUGIN_SOCK" 2>/dev/null
}
# made by the quick start? (labelled so, whatever the manifest says)
labelled() { # container|network NAME
    local labels=.Labels; [ "$1" = network ] || labels=.Config.Labels
    [ "$(docker "$1" inspect --format "{{index $labels \"ovsvlan-quickstart\"}}" "$2" 2>/dev/null)" = 1 ]
}

# starts ovsdb-server on the quick start's database (made from SCHEMA when absent), socket where the tools look
start_ovsdb_server() { # [SCHEMA]
    local pid
    note_absent "$OVS_RUN" "$OVS_DB_SOCK" "$OVS_RUN/ovsdb-server.pid"
    mkdir -p "$OVS_RUN" "$QS_DIR/ovs"
    [ -f "$QS_DIR/ovs/conf.db" ] || ovsdb-tool create "$QS_DIR/ovs/conf.db" "$1" || return 1
    ovsdb-server "$QS_DIR/ovs/conf.db" --remote="punix:$OVS_DB_SOCK" --pidfile="$OVS_RUN/ovsdb-server.pid" \
        -vconsole:off --log-file="$LOG/ovsdb-server.log" --detach --no-chdir || return 1
    pid=$(cat "$OVS_RUN/ovsdb-server.pid") || return 1
    record_pid ovsdb-server "$pid"
    record shared "$OVS_RUN/ovsdb-server.$pid.ctl"
    vsctl --no-wait init
}
# starts ovs-vswitchd on that database; returns once it has applied it
start_ovs_vswitchd() {
    local pid
    note_absent "$OVS_RUN/ovs-vswitchd.pid"
    ovs-vswitchd "unix:$OVS_DB_SOCK" --pidfile="$OVS_RUN/ovs-vswitchd.pid" -vconsole:off \
        --log-file="$LOG/ovs-vswitchd.log" --detach --no-chdir || return 1
    pid=$(cat "$OVS_RUN/ovs-vswitchd.pid") || return 1
    record_pid ovs-vswitchd "$pid"
    record shared "$OVS_RUN/ovs-vswitchd.$pid.ctl"
    vsctl --timeout=20 init
}
# starts the ovsvlan daemon (state in $QS_DIR/ovsvlan, log in $LOG); true once it answers on the socket
start_ovsvlan() {
    note_absent /run/docker /run/docker/plugins "$PLUGIN_SOCK"
    setsid node "$ROOT/dist/main.js" daemon --socket "$PLUGIN_SOCK" --ovsdb "unix:$OVS_DB_SOCK" \
        --state-dir "$QS_DIR/ovsvlan" </dev/null >>"$LOG/ovsvlan.log" 2>&1 &
    OVSVLAN_PID=$!
    record_pid ovsvlan "$OVSVLAN_PID"
    for _ in $(seq 100); do plugin_answers && return 0; kill -0 "$OVSVLAN_PID" 2>/dev/null || break; sleep 0.2; done
    plugin_answers
}

# does DIR hold nothing but dirs and sockets no process listens on (those of killed containerd shims)?
holds_nothing_live() { # DIR
    local listening f
    [ -z "$(find "$1" ! -type d ! -type s -print -quit)" ] || return 1
    listening=$(ss -xlH 2>/dev/null | awk '{ print $5 }')
    while IFS= read -r f; do ! grep -qxF -- "$f" <<<"$listening" || return 1; done < <(find "$1" -type s)
}

stop_process() { # NAME PID STARTTIME: SIGTERM (ovs-vswitchd: exit --cleanup, which removes its datapath), then SIGKILL
    local name=$1 pid=$2 i
    ours_alive "$pid" "$3" || { echo "  $name (pid $pid): already gone"; return 0; }
    if [ "$name" = ovs-vswitchd ]; then ovs-appctl -t "$OVS_RUN/ovs-vswitchd.$pid.ctl" exit --cleanup >/dev/null 2>&1 || kill "$pid"
    else kill "$pid"; fi
    for ((i = 0; i < 300; i++)); do ours_alive "$pid" "$3" || break; sleep 0.1; done
    ours_alive "$pid" "$3" && kill -KILL "$pid"
    for ((i = 0; i < 50; i++)); do ours_alive "$pid" "$3" || { echo "  stopped $name (pid $pid)"; return 0; }; sleep 0.1; done
    echo "  $name (pid $pid) does not stop" >&2; return 1
}

# Removes what the manifest lists, newest first, and nothing else; keeps the manifest if something could not go.
clean() {
    set +eE; trap - ERR
    [ -f "$MANIFEST" ] || { echo "quickstart clean: nothing to remove (no $MANIFEST)"; return 0; }
    local left=0 kept=0 x d p ports name pid start cpid cstart
    ! recorded pid | grep -q '^dockerd ' || export DOCKER_HOST="unix://$DOCKER_SOCK"
    # its dockerd killed while containers ran leaves them to their shims: started again, it stops them
    if [ -f "$QS_DIR/docker/args" ] && ! docker_up >/dev/null && pgrep -f -- "-address $QS_RUN/docker/containerd/" >/dev/null; then
        mapfile -t x <"$QS_DIR/docker/args"
        setsid dockerd "${x[@]}" </dev/null >>"$LOG/dockerd.log" 2>&1 &
        record_pid dockerd $!
        for ((d = 0; d < 120; d++)); do docker_up >/dev/null && break; sleep 0.5; done
        echo "  started its dockerd again (pid $!) to remove the containers it left running"
    fi
    # its OVS gone (killed, or the host rebooted) while its bridge may remain, or Docker still has its
    # networks: started again on its database, so that its ovsvlan daemon (started again below) can
    # remove the networks and del-br the bridge with its ports and veths; stopped below
    if recorded pid | grep -q '^ovsdb-server ' && recorded bridge | grep -q . && [ -f "$QS_DIR/ovs/conf.db" ] &&
        ! vsctl --timeout=5 show >/dev/null 2>&1; then
        if start_ovsdb_server && start_ovs_vswitchd; then echo "  started its Open vSwitch again ($QS_DIR/ovs/conf.db) to remove its bridge and networks"
        else echo "  its Open vSwitch does not start again (see $LOG/ovsdb-server.log, $LOG/ovs-vswitchd.log)" >&2; fi
    fi
    # its ovsvlan daemon gone (killed, or the host rebooted) while Docker still has its networks:
    # Docker would wait for the plugin at every removal; started again for them, stopped below
    if recorded pid | grep -q '^ovsvlan ' && recorded network | grep -q . && ! plugin_answers && docker_up >/dev/null; then
        if ! vsctl --timeout=5 show >/dev/null 2>&1; then
            echo "  its ovsvlan daemon is gone and OVS does not answer: Docker waits for the plugin at each removal (about 30 s each)" >&2
        elif start_ovsvlan; then echo "  started its ovsvlan daemon again (pid $OVSVLAN_PID): Docker needs it to remove its networks"
        else echo "  its ovsvlan daemon does not start again (see $LOG/ovsvlan.log): Docker waits for it at each removal (about 30 s each)" >&2; fi
    fi
    say "containers, networks, image"
    if docker_up >/dev/null; then
        for x in $(recorded container | tac); do
            docker container inspect "$x" >/dev/null 2>&1 || continue
            if labelled container "$x"; then show docker rm -f "$x" >/dev/null || left=1; else echo "  left $x: not labelled $LABEL"; fi
        done
        for x in $(recorded network | tac); do
            docker network inspect "$x" >/dev/null 2>&1 || continue
            if labelled network "$x"; then show docker network rm "$x" >/dev/null || left=1; else echo "  left $x: not labelled $LABEL"; fi
        done
        for x in $(recorded image); do
            ! docker image inspect "$x" >/dev/null 2>&1 || show docker rmi "$x" >/dev/null || left=1
        done
    elif recorded container | grep -q . && ! recorded pid | grep -q '^dockerd '; then
        echo "  Docker does not answer: start it, then run clean again (its containers and networks are left)" >&2; left=1
    fi   # a dockerd of the quick start that is gone takes its containers with its data-root
    # its bridge goes with its networks; left over (Docker gone), it is removed with the ports ovsvlan
    # made on it and their veths, unless it holds a port that is not ovsvlan's
    for x in $(recorded bridge); do
        vsctl --timeout=5 br-exists "$x" 2>/dev/null || continue
        ports=$(vsctl list-ports "$x")
        for p in $ports; do
            [ "$(vsctl --if-exists get Port "$p" external_ids:ovsvlan-owner | tr -d '"')" = ovsvlan ] ||
                { echo "  left bridge $x: port $p on it is not ovsvlan's" >&2; left=1; continue 2; }
        done
        echo "+ ovs-vsctl del-br $x" >&2; vsctl del-br "$x" || left=1
        for p in $ports; do ip link del "$p" 2>/dev/null || true; done
    done
    say "processes the quick start started"
    cpid=$(cat "$QS_RUN/docker/containerd/containerd.pid" 2>/dev/null) && cstart=$(starttime "$cpid")
    while read -r name pid start; do
        [ -n "$name" ] && { stop_process "$name" "$pid" "$start" || left=1; }
    done < <(recorded pid | tac)
    # dockerd's own containerd outlives it only if dockerd was killed
    [ -z "${cstart:-}" ] || ! ours_alive "$cpid" "$cstart" || stop_process containerd "$cpid" "$cstart" || left=1
    if [ "$left" = 1 ]; then
        echo "quickstart clean: stopped early, kept $MANIFEST: fix what is said above, then run clean again" >&2; return 1
    fi
    say "files and dirs"
    while IFS= read -r x; do   # paths: one a line (a clone's path may hold spaces)
        if [ -d "$x" ] && [ ! -L "$x" ]; then   # removed if it holds nothing but dirs and dead sockets
            if holds_nothing_live "$x" && rm -r "$x" 2>/dev/null; then echo "  removed $x/"
            else kept=1; echo "  left $x/: not empty ($(find "$x" -mindepth 1 -maxdepth 1 -printf '%f ' | cut -c1-200))" >&2; fi
        elif [ -e "$x" ] || [ -L "$x" ]; then rm -f "$x" && echo "  removed $x"; fi
    done < <(recorded shared | tac)
    for x in $(recorded cgroup); do
        for d in "/sys/fs/cgroup/$x" /sys/fs/cgroup/*/"$x"; do [ ! -d "$d" ] || find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
    done
    local pkgs; pkgs=$(recorded package | tr '\n' ' ')
    while IFS= read -r x; do
        [[ $x == /?*/* ]] || { echo "  left $x: not a path clean removes" >&2; continue; }
        findmnt -rn -o TARGET | awk -v p="$x/" 'index($0, p) == 1' | sort -r | xargs -r -d '\n' umount -l
        rm -rf "$x" && echo "  removed $x/"
    done < <(recorded made-dir | tac)
    [ -z "$pkgs" ] || echo "Packages the quick start installed, left installed: ${pkgs% } (Debian enables their services, e.g. docker and openvswitch-switch, for the next boot); to remove them: apt-get remove ${pkgs% } && apt-get autoremove"
    [ "$kept" = 0 ] || { echo "quickstart clean: done, but left what is said above" >&2; return 1; }
    echo "quickstart clean: done"
}
