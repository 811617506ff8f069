// The 200-host scenario of issue 11 (must-show 7), shared by the bench (test/bench/cluster-sim.ts,
// which prints and documents the figures) and the test (test/e2e/cluster-scale.test.ts, which checks
// the outcome without timing asserts): one real ovsvlan host of a cluster test bed with a VXLAN mesh
// network, 199 simulated hosts registering their liveness records the daemon's way, and the real
// host's tunnel ports polled in OVSDB until they are exactly the 199, then 100 hosts leave (their
// leases revoked) until the ports are exactly the 99 left. The host runs with OVSVLAN_MESH_GRACE=0:
// "leave" is timed from the revokes, with no grace to wait out.
import { readFile, stat } from 'node:fs/promises';
import { overlayBridgeName } from '../../src/names.js';
import { createCluster, type ClusterHost, type TestCluster } from './cluster.js';
import { awaitTunnels, startSimFleet, type Convergence, type WatchStats } from './cluster-sim.js';
import type { Teardownable } from './host.js';

export interface ScaleOpts {
  /** simulated hosts (the real one makes one more): 199 for the 200 */
  readonly simulated: number;
  /** how many of them leave in the second step */
  readonly leaving: number;
  readonly processes: number;
  /** OVSDB poll period, ms (50-100) */
  readonly pollMs: number;
  /** how long a convergence may take before the scenario gives up (not a target: the bench's is 5 s) */
  readonly ceilingMs: number;
  /** a test's own look at the real host once the tunnels converged, before the next step (the simulated hosts still run) */
  /** a third step: the hosts that left register again, at once (warm processes: a tighter burst than the first join) */
  readonly rejoin?: boolean;
  readonly afterJoin?: (h: ClusterHost, bridge: string) => Promise<void>;
  readonly afterLeave?: (h: ClusterHost, bridge: string) => Promise<void>;
}

/** One process's resources: resident set and CPU time used so far. */
export interface ProcessUse {
  readonly rssKb: number;
  readonly cpuMs: number;
}

/** What the scenario measured. */
export interface ScaleFigures {
  readonly hosts: number;
  /** the simulated hosts' registrations: from the command to the last record put */
  readonly registerMs: number;
  readonly registerRetries: number;
  /** from the last registration to the real host's bridge having exactly the simulated hosts' tunnels */
  readonly join: Convergence & { readonly ms: number; readonly ports: number };
  /**
   * from the last revoke (as its simulation process saw it answered) to exactly the remaining hosts'
   * tunnels: ≤ 0 when the ports followed before the slowest process saw its last revoke answered (a
   * busy machine); sinceStartMs is from the leave command, before the first revoke
   */
  readonly leave: Convergence & { readonly ms: number; readonly sinceStartMs: number; readonly ports: number };
  /** with opts.rejoin: from the last of the returning hosts' registrations to all the tunnels again */
  readonly rejoin: (Convergence & { readonly ms: number; readonly ports: number; readonly registerMs: number }) | undefined;
  /** keys under the cluster's prefix after the join and after the leave */
  readonly etcdKeys: { readonly joined: number; readonly left: number };
  /** etcd's database size (bytes, first member) after the join */
  readonly etcdDbBytes: number;
  /** what one watcher of the liveness keys (`alive/`) received in each step (each daemon's host view receives as much) */
  readonly watch: { readonly join: WatchStats; readonly leave: WatchStats };
  /** ovs-vswitchd, ovsdb-server and the ovsvlan daemon: before the join, after it */
  readonly use: Record<'vswitchd' | 'ovsdb' | 'ovsvlan', { readonly before: ProcessUse; readonly joined: ProcessUse }>;
  /** the OVSDB file after the join (it grows by the ports' rows and the transactions' log) */
  readonly confDbBytes: number;
}

const NET = 'scalenet';
/** the mesh network's VNI: its cluster identity is vxlan.7001 */
export const SCALE_VNI = 7001;

/** RSS and CPU time (user + system) of a process, from /proc. */
async function processUse(pid: number | undefined): Promise<ProcessUse> {
  if (pid === undefined) return { rssKb: 0, cpuMs: 0 };
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  // after "pid (comm) ", utime and stime are the 12th and 13th fields, in clock ticks (100 per second on Linux)
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
}

const pidIn = async (file: string): Promise<number | undefined> => Number((await readFile(file, 'utf8').catch(() => '')).trim()) || undefined;

async function uses(h: ClusterHost): Promise<Record<'vswitchd' | 'ovsdb' | 'ovsvlan', ProcessUse>> {
  return {
    vswitchd: await processUse(await pidIn(`${h.ovs.dir}/ovs-vswitchd.pid`)),
    ovsdb: await processUse(await pidIn(`${h.ovs.dir}/ovsdb-server.pid`)),
    ovsvlan: await processUse(h.plugin?.pid),
  };
}

/** Keys under the prefix, and the first member's database size. */
async function etcdFigures(c: TestCluster): Promise<{ keys: number; dbBytes: number }> {
  const list = await c.etcd.etcdctl(['get', '--prefix', c.prefix, '--keys-only']);
  if (list.exitCode !== 0) throw new Error(`etcdctl get: ${list.stderr}`);
  const status = await c.etcd.etcdctl(['endpoint', 'status', '-w', 'json'], [c.etcd.endpoints[0]!]);
  const keys = list.stdout.split('\n').filter(Boolean).length;
  const dbBytes = (JSON.parse(status.stdout || '[]') as Array<{ Status?: { dbSize?: number } }>)[0]?.Status?.dbSize ?? 0;
  return { keys, dbBytes };
}

const minus = (a: WatchStats, b: WatchStats): WatchStats => ({ puts: a.puts - b.puts, deletes: a.deletes - b.deletes, responses: a.responses - b.responses });

/**
 * Builds the test bed (one real host, etcd in the hub netns), runs the join and the leave, and
 * resolves with the figures; everything is removed at the end of `t`. `say` narrates the steps.
 */
export async function runScaleScenario(t: Teardownable, opts: ScaleOpts, say: (line: string) => void): Promise<ScaleFigures> {
  const c = await createCluster(t, { hosts: 1, meshGraceSeconds: 0 });
  const h = c.hosts[0]!;
  const hub = c.underlay.hub;
  if (!hub) throw new Error('the cluster test bed has no hub netns');
  await h.dockerOk(['network', 'create', '-d', 'ovsvlan', '--ipam-driver', 'ovsvlan', '--opt', 'mode=vxlan', '--opt', `vni=${SCALE_VNI}`, '--subnet', '10.83.0.0/16', NET]);
  const bridge = overlayBridgeName(await h.dockerOk(['network', 'inspect', '-f', '{{.Id}}', NET]));
  say(`real host ${h.hostId} (${h.underlayIp}): mesh network ${NET} (vxlan ${SCALE_VNI}) on ${bridge}, mesh grace 0 s`);

  let t0 = Date.now();
  const fleet = await startSimFleet({ endpoints: c.endpoints.split(','), prefix: c.prefix, netns: hub.name, count: opts.simulated, processes: opts.processes }, t);
  say(`${opts.processes} simulation processes connected in ${Date.now() - t0} ms (in netns ${hub.name})`);
  const before = await uses(h);
  const watch0 = await fleet.watchStats();

  const all = new Set(fleet.hosts.map((s) => s.underlayIp));
  const joining = awaitTunnels(h.ovs.dbSock, bridge, all, opts.pollMs, opts.ceilingMs);
  joining.catch(() => undefined); // awaited below, after the registrations
  t0 = Date.now();
  const registered = await fleet.register();
  say(`${opts.simulated} simulated hosts registered in ${registered.lastAt - t0} ms (${registered.retries} retried)`);
  const joined = await joining;
  const joinMs = joined.seenAt - registered.lastAt;
  say(`join: ${all.size} tunnel ports ${joinMs} ms after the last registration (${joined.polls} polls)`);
  const joinedUse = await uses(h);
  const watch1 = await fleet.watchStats();
  const etcdJoined = await etcdFigures(c);
  const confDbBytes = (await stat(`${h.ovs.dir}/conf.db`)).size;
  await opts.afterJoin?.(h, bridge);

  const leaving = fleet.hosts.slice(0, opts.leaving);
  const staying = new Set(fleet.hosts.slice(opts.leaving).map((s) => s.underlayIp));
  const shrinking = awaitTunnels(h.ovs.dbSock, bridge, staying, opts.pollMs, opts.ceilingMs);
  shrinking.catch(() => undefined);
  const leaveStart = Date.now();
  const leftAt = await fleet.leave(leaving.map((s) => s.id));
  const left = await shrinking;
  const leaveMs = left.seenAt - leftAt;
  say(`leave: ${staying.size} tunnel ports ${leaveMs} ms after the last of ${leaving.length} revokes, ${left.seenAt - leaveStart} ms after the leave began (${left.polls} polls)`);
  await new Promise((resolve) => setTimeout(resolve, 500)); // the watcher's last events
  const watch2 = await fleet.watchStats();
  const etcdLeft = await etcdFigures(c);
  await opts.afterLeave?.(h, bridge);
  let rejoin: ScaleFigures['rejoin'];
  if (opts.rejoin) {
    const growing = awaitTunnels(h.ovs.dbSock, bridge, all, opts.pollMs, opts.ceilingMs);
    growing.catch(() => undefined);
    const t1 = Date.now();
    const back = await fleet.register(leaving.map((s) => s.id));
    const grown = await growing;
    rejoin = { ...grown, ms: grown.seenAt - back.lastAt, ports: all.size, registerMs: back.lastAt - t1 };
    say(`rejoin: ${leaving.length} hosts registered again in ${rejoin.registerMs} ms (${back.retries} retried); ${all.size} tunnel ports ${rejoin.ms} ms after the last`);
  }
  await fleet.close();

  return {
    hosts: opts.simulated + 1,
    registerMs: registered.lastAt - t0,
    registerRetries: registered.retries,
    join: { ...joined, ms: joinMs, ports: all.size },
    leave: { ...left, ms: leaveMs, sinceStartMs: left.seenAt - leaveStart, ports: staying.size },
    rejoin,
    etcdKeys: { joined: etcdJoined.keys, left: etcdLeft.keys },
    etcdDbBytes: etcdJoined.dbBytes,
    watch: { join: minus(watch1, watch0), leave: minus(watch2, watch1) },
    use: {
      vswitchd: { before: before.vswitchd, joined: joinedUse.vswitchd },
      ovsdb: { before: before.ovsdb, joined: joinedUse.ovsdb },
      ovsvlan: { before: before.ovsvlan, joined: joinedUse.ovsvlan },
    },
    confDbBytes,
  };
}
