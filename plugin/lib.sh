# Shared by plugin/build.sh and plugin/build-docker.sh (sourced): the runtime part of a plugin
# rootfs, copied from this machine. R must be set to the rootfs directory.

# binaries at their host paths, each with the shared libraries ldd resolves for it
copy_with_libs() {
    local b lib
    for b in "$@"; do
        b=$(readlink -f "$(command -v "$b")")
        [ -e "$R$b" ] || install -D -m 0755 "$b" "$R$b"
        for lib in $( { ldd "$b" 2>/dev/null || true; } | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
            [ -e "$R$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
        done
    done
}

# node, ip and ethtool (+ libraries, and links on the default PATH Docker gives plugins), the
# mountpoints Docker and config.json need, /tmp, and a passwd/group with root only. No tc: the
# daemon sets up traffic control through rtnetlink (src/netlink/tc.ts); ip serves uplinks and
# host_ip, ethtool only kernels without ethtool's netlink family (src/link/exec.ts).
# DHCP networks (src/dhcp/): busybox (udhcpc, and `busybox nsenter` that runs it in a container's
# netns), util-linux nsenter (runs `ip -j` there: BusyBox's ip has no JSON) and /bin/sh, the
# interpreter of udhcpc's hook scripts/udhcpc-hook (busybox's sh; copied in by the caller)
runtime_root() {
    mkdir -p "$R"/{app,bin,etc,tmp,run/docker/plugins,run/openvswitch,var/lib/ovsvlan,usr/local/bin,proc,sys,dev}
    ln -sfn ../run "$R/var/run"          # as on Debian: /var/run/openvswitch is /run/openvswitch
    chmod 1777 "$R/tmp"
    copy_with_libs node ip ethtool busybox nsenter
    [ -e "$R/bin/sh" ] || ln -s "$(readlink -f "$(command -v busybox)")" "$R/bin/sh"
    local b real
    for b in node ip ethtool; do
        real=$(readlink -f "$(command -v $b)")
        [ "$real" = "/usr/local/bin/$b" ] || ln -sf "$real" "$R/usr/local/bin/$b"
    done
    echo 'root:x:0:0:root:/root:/sbin/nologin' >"$R/etc/passwd"
    echo 'root:x:0:' >"$R/etc/group"
    : >"$R/etc/hosts"; : >"$R/etc/resolv.conf"   # Docker bind-mounts the host's over these (network.type host)
}

# checks config.json against the daemon: it must parse, name the socket the daemon listens on
# inside the plugin, and carry an env entry for every setting of src/config.ts SETTINGS
# (read from the built dist/config.js when there is one)
check_manifest() { # config.json [dist/config.js]
    node --input-type=module -e '
      import { existsSync, readFileSync } from "node:fs";
      const [manifest, configJs] = process.argv.slice(1);
      const c = JSON.parse(readFileSync(manifest, "utf8"));
      const names = new Set(c.env.map((e) => e.name));
      const problems = [];
      const sock = c.env.find((e) => e.name === "OVSVLAN_SOCKET");
      if (!sock || sock.value !== "/run/docker/plugins/" + c.interface.socket) problems.push("OVSVLAN_SOCKET must be /run/docker/plugins/" + c.interface.socket);
      if (configJs && existsSync(configJs)) {
        const { SETTINGS } = await import(configJs);
        for (const s of SETTINGS) if (!names.has(s.env)) problems.push("no env entry for " + s.env);
      }
      if (problems.length) { console.error("config.json: " + problems.join("; ")); process.exit(1); }
    ' "$@"
}

# the production dependencies, as node_modules/<name> paths relative to the checkout ($1): the
# top-level package dirs `npm ls --omit=dev` resolves (a dependency nested under one of them is
# that package's own, so production too)
prod_deps() {
    (cd "$1" && npm ls --omit=dev --all --parseable 2>/dev/null) | sed "s|^$1/||" | grep '^node_modules/' |
        awk -F/ '{ if ($2 ~ /^@/) print $1 "/" $2 "/" $3; else print $1 "/" $2 }' | sort -u
}

DOCKER_PATH=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin   # what Docker gives a plugin

# the daemon loads from the rootfs layout (inside it, when we may chroot), and so does the netlink
# package's prebuilt native binary (glibc and libstdc++, which node's libraries include)
smoke_test() {
    [ -x "$R/app/scripts/udhcpc-hook" ] || { echo "rootfs: no executable /app/scripts/udhcpc-hook (DHCP networks)" >&2; return 1; }
    if [ "$(id -u)" = 0 ]; then
        env -i "$DOCKER_PATH" chroot "$R" node /app/dist/main.js version
        env -i "$DOCKER_PATH" chroot "$R" node -e 'require("/app/node_modules/netlink")'
        env -i "$DOCKER_PATH" chroot "$R" ip -j link show lo >/dev/null
        env -i "$DOCKER_PATH" chroot "$R" ethtool --version >/dev/null
        smoke_dhcp
    else
        node "$R/app/dist/main.js" version
        node -e "require('$R/app/node_modules/netlink')"
    fi
}

# what DHCP networks run inside the rootfs (src/dhcp/): busybox's udhcpc and nsenter applets,
# util-linux nsenter, and udhcpc's hook through /bin/sh into node: a "bound" event (report only)
# must write its lease file
smoke_dhcp() {
    local node_path lease=/tmp/smoke-$$.lease.json
    node_path=$(env -i "$DOCKER_PATH" chroot "$R" /bin/sh -c 'command -v node')
    env -i "$DOCKER_PATH" chroot "$R" busybox udhcpc --help >/dev/null 2>&1
    env -i "$DOCKER_PATH" chroot "$R" busybox nsenter --help >/dev/null 2>&1
    env -i "$DOCKER_PATH" chroot "$R" nsenter --version >/dev/null
    env -i "$DOCKER_PATH" OVSVLAN_NODE="$node_path" OVSVLAN_DHCP_HOOK=/app/dist/dhcp/hook.js \
        OVSVLAN_DHCP_LEASE_FILE="$lease" OVSVLAN_DHCP_APPLY=0 ip=192.0.2.10 mask=24 lease=60 \
        chroot "$R" /app/scripts/udhcpc-hook bound
    [ -s "$R$lease" ] || { echo "rootfs: udhcpc's hook wrote no lease file" >&2; return 1; }
    rm -f "$R$lease"
}
