// The dockerd-level figures on the simulated host's private dockerd with ovsvlan as its plugin:
// `docker run --rm` medians (none, Docker's bridge driver, ovsvlan), concurrent `docker run -d`
// on an ovsvlan network, and `network connect`/`disconnect` through dockerd's API: Docker's bridge
// driver at each level of ports on its Linux bridge, ovsvlan on a near-empty bridge.
import type { Host } from '../helpers/host.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { deleteVethsExcept, ipBatch, vethNames } from './links.js';
import { median, pool } from './stats.js';
import type { Scale, Series, Window } from './types.js';
import { unixHttp, type UnixHttp } from './unix-http.js';

export interface DockerResult {
  /** `docker run --rm busybox true` ms per run, by network. */
  runs: Record<'none' | 'bridge' | 'ovsvlan', number[]>;
  runFailures: number;
  concurrent: { containers: number; failures: number; distinct: number; wallMs: number; firstError?: string };
  bridge: Series;
  /** connect/disconnect of the same container on the ovsvlan network through the same API. */
  ovsvlanConnect: Window;
}

const IMAGE = 'busybox:local';

/** Runs the dockerd-level measurements; removes its containers, networks and veths after. */
export async function benchDocker(host: Host, scale: Scale, say: (line: string) => void): Promise<DockerResult> {
  const ns = host.ns.name;
  const before = await vethNames(ns);
  const api = unixHttp(host.dockerd.sock);
  const net = { ov: `${RUN_PREFIX}-ov`, br: `${RUN_PREFIX}-br`, idle: `${RUN_PREFIX}-idle` };
  const linuxBridge = `${RUN_PREFIX}db`;
  try {
    await host.startPlugin({ bridge: `${RUN_PREFIX}dv`, env: { OVSVLAN_LOG_LEVEL: 'info' } });
    await host.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', 'vlan=79', '--subnet', '10.79.0.0/16', net.ov]);
    await host.dockerOk(['network', 'create', '-d', 'bridge', '--subnet', '10.80.0.0/16', '-o', `com.docker.network.bridge.name=${linuxBridge}`, net.br]);
    await host.dockerOk(['network', 'create', '-d', 'bridge', '--subnet', '10.81.0.0/24', '-o', `com.docker.network.bridge.name=${RUN_PREFIX}di`, net.idle]);

    // interleaved rounds, so that a busy moment of the machine hits all three alike
    const kinds = { none: 'none', bridge: net.br, ovsvlan: net.ov } as const;
    const runs: DockerResult['runs'] = { none: [], bridge: [], ovsvlan: [] };
    let runFailures = 0;
    for (let round = -1; round < scale.runs; round++) {
      for (const [kind, network] of Object.entries(kinds) as Array<[keyof typeof kinds, string]>) {
        const t0 = performance.now();
        const r = await host.docker(['run', '--rm', '--net', network, IMAGE, 'true']);
        if (r.exitCode !== 0) runFailures++;
        else if (round >= 0) runs[kind].push(performance.now() - t0); // round -1 warms the caches up
      }
    }
    say(`docker run --rm medians: none ${median(runs.none).toFixed(0)} ms, bridge ${median(runs.bridge).toFixed(0)} ms, ovsvlan ${median(runs.ovsvlan).toFixed(0)} ms`);

    const concurrent = await concurrentRuns(host, net.ov, scale.concurrent);
    say(`${scale.concurrent} concurrent docker run -d: ${concurrent.failures} failed, ${concurrent.distinct} distinct addresses, ${(concurrent.wallMs / 1000).toFixed(1)} s`);

    const probe = `${RUN_PREFIX}-probe`;
    await host.dockerOk(['run', '-d', '--name', probe, '--net', net.idle, IMAGE, 'sleep', '3600']);
    const windows: Window[] = [];
    let filled = 0;
    for (const level of scale.levels) {
      const fresh = Array.from({ length: level - filled }, (_, k) => filled + k);
      await ipBatch(ns, fresh.flatMap((i) => [`link add ${RUN_PREFIX}b${i} type veth peer name ${RUN_PREFIX}c${i}`,
        `link set ${RUN_PREFIX}b${i} master ${linuxBridge}`, `link set ${RUN_PREFIX}b${i} up`]));
      filled = level;
      windows.push(await connectWindow(api, net.br, probe, level, scale.window));
      say(`bridge driver: connect/disconnect with ${level} ports on ${linuxBridge}`);
    }
    const ovsPorts = (await host.ovs.vsctl(['list-ports', `${RUN_PREFIX}dv`])).split('\n').filter(Boolean).length;
    const ovsvlanConnect = await connectWindow(api, net.ov, probe, ovsPorts, scale.window);
    return { runs, runFailures, concurrent, ovsvlanConnect,
      bridge: { key: 'bridge', label: "Docker's bridge driver", windows,
        attachIs: "POST /networks/ID/connect of a running container through dockerd's API (the whole path: IPAM, endpoint, veth into the sandbox); its Linux bridge filled with veth ports",
        detachIs: 'POST /networks/ID/disconnect' } };
  } finally {
    api.close();
    await host.dockerd.clean().catch(() => undefined); // while the plugin still answers
    await host.plugin?.stop();
    await deleteVethsExcept(ns, before).catch(() => undefined);
  }
}

/** `count` samples of connect then disconnect of `container` on `network` through the API. */
async function connectWindow(api: UnixHttp, network: string, container: string, ports: number, count: number): Promise<Window> {
  const w: Window = { ports, attach: [], detach: [], parts: {} };
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await api.post(`/networks/${network}/connect`, { Container: container });
    const t1 = performance.now();
    await api.post(`/networks/${network}/disconnect`, { Container: container, Force: false });
    w.attach.push(t1 - t0);
    w.detach.push(performance.now() - t1);
  }
  return w;
}

/** `count` `docker run -d` at once on `network`: failures, distinct addresses, wall time; removes them. */
async function concurrentRuns(host: Host, network: string, count: number): Promise<DockerResult['concurrent']> {
  const names = Array.from({ length: count }, (_, i) => `${RUN_PREFIX}-k${i}`);
  const t0 = performance.now();
  const results = await pool(count, count, (i) => host.docker(['run', '-d', '--name', names[i]!, '--net', network, IMAGE, 'sleep', '3600']));
  const wallMs = performance.now() - t0;
  const failed = results.filter((r) => r.exitCode !== 0);
  const inspect = JSON.parse(await host.dockerOk(['network', 'inspect', network, '--format', '{{json .Containers}}'])) as
    Record<string, { Name: string; IPv4Address: string }> | null;
  const addresses = Object.values(inspect ?? {}).filter((c) => names.includes(c.Name)).map((c) => c.IPv4Address);
  await pool(Math.ceil(count / 25), 2, (k) => host.docker(['rm', '-f', ...names.slice(k * 25, k * 25 + 25)], { timeout: 300_000 }));
  return { containers: count, failures: failed.length, distinct: new Set(addresses).size, wallMs,
    ...(failed[0] ? { firstError: failed[0].stderr.slice(0, 300) } : {}) };
}
