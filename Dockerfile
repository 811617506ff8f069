# The ovsvlan managed plugin's filesystem. `docker build` this, then export a container of it
# as the plugin's rootfs/ next to config.json (docs/managed-plugin.md, plugin/build-docker.sh):
#
#   online:  docker build -t ovsvlan-rootfs .
#            (BASE = the public node:20-bookworm-slim; npm ci and apt-get need the network)
#   offline: bash plugin/build-docker.sh
#            (BASE = ovsvlan-base:local, which the project makes from this machine's node, ip and
#            ethtool; the build context carries node_modules, so neither npm nor apt is reached)
#
# The legacy builder (dockerd 20.10, DOCKER_BUILDKIT=0) and BuildKit both build it.
ARG BASE=node:20-bookworm-slim

# --- compile: TypeScript to dist/, then only the production dependencies are kept
FROM ${BASE} AS build
# lets plugin/build-docker.sh remove this stage's image, which the legacy builder leaves untagged
ARG STAGE_LABEL=build
LABEL ovsvlan.stage=${STAGE_LABEL}
WORKDIR /src
# sources (and, in the offline context only, node_modules: .dockerignore keeps them out of the
# online one, where npm ci installs them)
COPY . .
RUN set -eu; \
    if [ ! -d node_modules ]; then npm ci --no-audit --no-fund; fi; \
    node node_modules/typescript/bin/tsc -p tsconfig.json; \
    rm -rf dist/bench; \
    npm prune --omit=dev --ignore-scripts --no-audit --no-fund --offline

# --- runtime: node, ip (iproute2) and ethtool; for DHCP networks busybox (udhcpc) and util-linux's
# nsenter, and /bin/sh for udhcpc's hook; nothing else the daemon runs (no tc: traffic control
# goes through rtnetlink from the daemon's own process, like the veths). No package manager
# stays (npm, npx, corepack, yarn): the exported rootfs is flat, so removing them does shrink it.
# Mountpoints: Docker's plugin socket dir, and the ovs and state mounts of config.json.
FROM ${BASE}
RUN set -eu; \
    if ! command -v ip >/dev/null || ! command -v ethtool >/dev/null || ! command -v busybox >/dev/null \
        || ! command -v nsenter >/dev/null; then \
        apt-get update; \
        apt-get install -y --no-install-recommends iproute2 ethtool busybox-static util-linux; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
        /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /usr/lib/node_modules /usr/bin/npm /usr/bin/npx; \
    mkdir -p /run/docker/plugins /var/run/openvswitch /var/lib/ovsvlan /tmp; \
    chmod 1777 /tmp
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# udhcpc's hook of DHCP networks (mode 755 kept), at ../../scripts from dist/dhcp/client.js
COPY --from=build /src/scripts/udhcpc-hook ./scripts/udhcpc-hook
# config.json's entrypoint is what Docker runs for the plugin; this one is for `docker run` checks
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["daemon"]
