// The cluster-mode test bed (issue 11): N simulated hosts (test/helpers/host.ts: netns, own OVS,
// own dockerd) cabled to one hub (test/helpers/multihost.ts' underlay, VTEP 10.99.0.<i+1> on host
// i), a three-member etcd inside the hub netns on 10.99.0.250 (test/helpers/etcd.ts' netns mode),
// optionally the trunk switch, and ovsvlan on every host with the cluster settings:
// OVSVLAN_ETCD, a per-run OVSVLAN_ETCD_PREFIX, OVSVLAN_HOST_ID h<i+1>, OVSVLAN_UNDERLAY_IP.
// Everything lives in the run's namespaces and is torn down at the end of `t`, hosts first
// (their containers are removed while etcd still answers), then switch, underlay and etcd.
import { ovsvlanCli } from './cli.js';
import { startEtcdCluster, type EtcdCluster } from './etcd.js';
import { createHost, type Host, type HostPlugin, type Teardownable } from './host.js';
import { createSwitch, createUnderlay, type Switch, type Underlay } from './multihost.js';
import { RUN_PREFIX, type RunResult } from './run.js';

/** The hub bridge's address: etcd's members listen on it (ports 2379, 2381, 2383). */
export const ETCD_ADDRESS = '10.99.0.250';

export interface ClusterHost extends Host {
  /** `h${i+1}`: OVSVLAN_HOST_ID, and the host's name (netns `${RUN_PREFIX}-h<i+1>`) */
  readonly hostId: string;
  /** 10.99.0.<i+1>: OVSVLAN_UNDERLAY_IP, the VTEP address on the underlay */
  readonly underlayIp: string;
  /** The settings env this host's ovsvlan (daemon and CLI) runs with. */
  readonly clusterEnv: Readonly<Record<string, string>>;
  /** ovsvlan with this host's cluster settings (+ extra env), replacing a running one */
  startClusterPlugin(env?: Record<string, string>): Promise<HostPlugin>;
  /** runs `node dist/main.js ARGS` (the ovsvlan CLI) inside the host's netns with the same settings env; never throws */
  ovsvlan(args: readonly string[]): Promise<RunResult>;
}

export interface TestCluster {
  readonly hosts: ClusterHost[];
  /** 3 members in the hub netns, listening on 10.99.0.250 */
  readonly etcd: EtcdCluster;
  /** OVSVLAN_ETCD value */
  readonly endpoints: string;
  /** a per-run OVSVLAN_ETCD_PREFIX */
  readonly prefix: string;
  readonly underlay: Underlay;
  /** with opts.trunk: the trunk switch, `${RUN_PREFIX}up` uplink in every host */
  readonly trunk: Switch | undefined;
  /** a new host cabled to the same hub (underlay 10.99.0.<n>) and, with a trunk, to the switch; plugin started */
  addHost(): Promise<ClusterHost>;
}

export interface ClusterOpts {
  hosts: number;
  /** a trunk switch cabled to every host's `${RUN_PREFIX}up` */
  trunk?: boolean;
  /** VLANs the switch's ports carry (default 860, 861) */
  trunks?: readonly number[];
  /** OVSVLAN_MESH_GRACE (seconds); the daemon's default when absent */
  meshGraceSeconds?: number;
  /** OVSVLAN_LEASE_GRACE (seconds); the daemon's default when absent */
  leaseGraceSeconds?: number;
  /** hosts built up front (netns, OVS, dockerd, not cabled, no ovsvlan) for addHost() to take */
  spareHosts?: number;
}

/** A plain Host seen as a cluster host: the same object's parts plus its cluster identity and settings. */
function asClusterHost(host: Host, hostId: string, underlayIp: string, clusterEnv: Record<string, string>): ClusterHost {
  return {
    name: host.name,
    ns: host.ns,
    ovs: host.ovs,
    dockerd: host.dockerd,
    stateDir: host.stateDir,
    docker: host.docker,
    dockerOk: host.dockerOk,
    get plugin() {
      return host.plugin;
    },
    startPlugin: host.startPlugin,
    destroy: host.destroy,
    hostId,
    underlayIp,
    clusterEnv,
    startClusterPlugin: (env = {}) => host.startPlugin({ env: { ...clusterEnv, ...env } }),
    ovsvlan: async (args) => {
      try {
        return await ovsvlanCli(host, args, clusterEnv);
      } catch (err) {
        return { stdout: '', stderr: String(err), exitCode: -1 };
      }
    },
  };
}

/**
 * Builds the cluster test bed for a test and starts ovsvlan on every host; resolves once each
 * daemon listens. Everything is removed at the end of `t`, and at once when a step fails.
 */
export async function createCluster(t: Teardownable, opts: ClusterOpts): Promise<TestCluster> {
  // teardown order: every host (containers removed while etcd answers), then switch, underlay, etcd
  const hostSteps: Array<() => unknown> = [];
  const infraSteps: Array<() => unknown> = [];
  const collect = (into: Array<() => unknown>): Teardownable => ({ teardown: (fn) => into.push(fn), passing: t.passing?.bind(t) });
  const builds: Array<Promise<Host>> = [];
  let tearing: Promise<void> | undefined;
  const teardown = (): Promise<void> => (tearing ??= (async () => {
    // a host still being built registers its teardown only once it has started
    await Promise.allSettled(builds);
    const failed = (err: unknown): void => console.error(`cluster: teardown failed: ${String(err)}`);
    await Promise.all(hostSteps.map(async (fn) => { try { await fn(); } catch (err) { failed(err); } }));
    for (const fn of infraSteps) {
      try { await fn(); } catch (err) { failed(err); }
    }
  })());
  t.teardown(teardown);

  const prefix = `/${RUN_PREFIX}-ovsvlan`;
  let built = 0;
  /** netns + OVS + dockerd of the next host (index = order of creation, so 10.99.0.<index+1>) */
  const build = (): { index: number; host: Promise<Host> } => {
    const index = built++;
    const host = createHost(`h${index + 1}`, collect(hostSteps));
    builds.push(host);
    host.catch(() => undefined); // a spare's failure surfaces in addHost(), not as an unhandled rejection
    return { index, host };
  };

  try {
    const first = Array.from({ length: opts.hosts }, build);
    const spares = Array.from({ length: opts.spareHosts ?? 0 }, build);
    // a failed host rejects after the others settled: each one's teardown is collected either way
    const settled = await Promise.allSettled(first.map((b) => b.host));
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (rejected) throw rejected.reason;
    const plain = settled.map((s) => (s as PromiseFulfilledResult<Host>).value);

    const underlay = await createUnderlay(plain, { t: collect(infraSteps), hubAddress: `${ETCD_ADDRESS}/24` });
    const trunk = opts.trunk ? await createSwitch(plain, { t: collect(infraSteps), trunks: opts.trunks }) : undefined;
    const hub = underlay.hub;
    if (!hub) throw new Error('cluster: the underlay has no hub');
    const etcd = await startEtcdCluster('cl', { members: 3, t: collect(infraSteps), netns: hub.name, address: ETCD_ADDRESS });
    const endpoints = etcd.endpoints.join(',');

    const envOf = (index: number, underlayIp: string): Record<string, string> => ({
      OVSVLAN_ETCD: endpoints,
      OVSVLAN_ETCD_PREFIX: prefix,
      OVSVLAN_HOST_ID: `h${index + 1}`,
      OVSVLAN_UNDERLAY_IP: underlayIp,
      ...(opts.meshGraceSeconds !== undefined ? { OVSVLAN_MESH_GRACE: String(opts.meshGraceSeconds) } : {}),
      ...(opts.leaseGraceSeconds !== undefined ? { OVSVLAN_LEASE_GRACE: String(opts.leaseGraceSeconds) } : {}),
    });
    const hosts = plain.map((h, i) => asClusterHost(h, `h${i + 1}`, underlay.ips[i] as string, envOf(i, underlay.ips[i] as string)));
    for (const h of hosts) await h.startClusterPlugin();

    const addHost = async (): Promise<ClusterHost> => {
      const next = spares.shift() ?? build();
      const host = await next.host;
      const ip = await underlay.addHost(host);
      if (ip !== `10.99.0.${next.index + 1}`) throw new Error(`cluster: host h${next.index + 1} cabled as ${ip}: hosts added out of order`);
      if (trunk) await trunk.addHost(host);
      const ch = asClusterHost(host, `h${next.index + 1}`, ip, envOf(next.index, ip));
      hosts.push(ch);
      await ch.startClusterPlugin();
      return ch;
    };
    return { hosts, etcd, endpoints, prefix, underlay, trunk, addHost };
  } catch (err) {
    await teardown();
    throw err;
  }
}
