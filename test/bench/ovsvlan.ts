// ovsvlan driven over its socket as dockerd drives it (no dockerd: OVSVLAN_DOCKER empty), on a
// bridge filled with endpoints of the daemon itself that stay attached: attach and detach windows
// at each level, the daemon's RSS, and its start plus first reconciliation with them all in state.
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { Host } from '../helpers/host.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { startOvsvlan, type OvsvlanProcess } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, runOk } from '../helpers/run.js';
import { firstReconciliation, loggedCreates, loggedErrors } from './daemon-log.js';
import { fsyncProbe } from './fsync.js';
import { deleteVethsExcept, ipBatch, vethNames } from './links.js';
import { median, pool, timed } from './stats.js';
import type { Scale, Series, Window } from './types.js';
import { unixHttp, type UnixHttp } from './unix-http.js';

export interface OvsvlanResult {
  series: Series;
  /** RSS (MB) of the daemon that made the endpoints, holding the most of them. */
  rssMb: number;
  /** RSS (MB) of a freshly started daemon with no endpoints: the floor. */
  rssEmptyMb: number;
  /** Endpoints in state at the timed restart. */
  endpoints: number;
  /** Spawn to the first finished reconciliation, with `endpoints` in state and with none (ms; NaN: none within a minute). */
  startMs: number;
  startEmptyMs: number;
  /** `node -e 0` spawned as the daemon is (ip netns exec): Node's own start, median of 5 (ms). */
  nodeStartMs: number;
  /** Why the timed start did not reconcile, when it did not. */
  startFailure?: string;
  /** Error lines the daemon logged during the whole phase, and the first of them. */
  errors: { count: number; first?: string };
  /** Spawn to the socket answering, with `endpoints` in state (ms). */
  socketMs: number;
  /** Per level, of the window's CreateEndpoints (from the daemon's log): how many, how many over 20 ms, how many found the pool empty. */
  creates: { ports: number; samples: number; over20: number; poolEmpty: number }[];
}

/** Names of the window parts that the report's floors read. */
export const DAEMON_CREATE = 'CreateEndpoint in the daemon (its log)';
export const FSYNC_PROBE = 'journal-sized append + fdatasync (probe, state dir)';

const id = (): string => randomBytes(32).toString('hex');
const VLAN = 77;
const SUBNET = '10.77.0.0/16';

interface Held {
  ep: string;
  address: string;
  containerIf: string;
}

/** Measures ovsvlan on `host`'s OVS with its own daemon, state dir and bridge; removes them after. */
export async function benchOvsvlan(host: Host, scale: Scale, say: (line: string) => void): Promise<OvsvlanResult> {
  const socket = `${RUN_DIR}/bench-ovsvlan.sock`;
  const stateDir = `${RUN_DIR}/bench-ovsvlan-state`;
  const logFile = `${RUN_DIR}/bench-ovsvlan.log`;
  const bridge = `${RUN_PREFIX}ob`;
  const settings = { netns: host.ns.name, socket, ovsdb: host.ovs.endpoint, stateDir, bridge, datapath: 'netdev' as const, logFile,
    env: { OVSVLAN_DOCKER: '', OVSVLAN_LOG_LEVEL: 'info' } };
  let daemon: OvsvlanProcess | undefined;
  let sandbox: Netns | undefined;
  let api: UnixHttp | undefined;
  const start = async (): Promise<{ reconciledMs: number; socketMs: number; failure?: string }> => {
    const t0 = Date.now();
    daemon = await startOvsvlan(settings);
    const socketMs = Date.now() - t0;
    const first = await firstReconciliation(logFile, t0);
    return { reconciledMs: first.at === undefined ? NaN : first.at - t0, socketMs, ...(first.failure ? { failure: first.failure } : {}) };
  };
  const before = await vethNames(host.ns.name);
  try {
    const empty = await start();
    const rssEmptyMb = await rssMb(daemon!.pid);
    const nodeStart = (): Promise<[string, number]> => timed(() => runOk('ip', ['netns', 'exec', host.ns.name, process.execPath, '-e', '0']));
    const nodeStartMs = median(await pool(5, 1, async () => (await nodeStart())[1]));
    api = unixHttp(socket);
    const call = api.post;
    const poolId = String((await call('/IpamDriver.RequestPool', { AddressSpace: 'ovsvlan-local', Pool: SUBNET, SubPool: '', Options: {}, V6: false }))['PoolID']);
    const gateway = String((await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }))['Address']);
    const net = id();
    await call('/NetworkDriver.CreateNetwork', { NetworkID: net, Options: { 'com.docker.network.generic': { vlan: String(VLAN) } },
      IPv4Data: [{ AddressSpace: 'ovsvlan-local', Pool: SUBNET, Gateway: gateway }], IPv6Data: [] });
    sandbox = await createNetns(`${RUN_PREFIX}-bsbx`);

    const attach = async (parts?: Record<string, number[]>): Promise<Held> => {
      const t0 = performance.now();
      const address = String((await call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null }))['Address']);
      const t1 = performance.now();
      const ep = id();
      await call('/NetworkDriver.CreateEndpoint', { NetworkID: net, EndpointID: ep, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
      const j = await call('/NetworkDriver.Join', { NetworkID: net, EndpointID: ep, SandboxKey: `/var/run/docker/netns/${ep.slice(0, 12)}`, Options: {} });
      const t2 = performance.now();
      parts?.['RequestAddress']?.push(t1 - t0);
      parts?.['CreateEndpoint+Join']?.push(t2 - t1);
      return { ep, address, containerIf: String((j['InterfaceName'] as { SrcName?: string } | undefined)?.SrcName) };
    };
    const detach = async (h: Held, parts: Record<string, number[]>): Promise<void> => {
      const t0 = performance.now();
      await call('/NetworkDriver.Leave', { NetworkID: net, EndpointID: h.ep });
      await call('/NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: h.ep });
      const t1 = performance.now();
      await call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: h.address.split('/')[0] });
      parts['Leave+DeleteEndpoint']?.push(t1 - t0);
      parts['ReleaseAddress']?.push(performance.now() - t1);
    };

    const held: Held[] = [];
    const windows: Window[] = [];
    const creates: OvsvlanResult['creates'] = [];
    let rss = rssEmptyMb;
    for (const level of scale.levels) {
      const t0 = Date.now();
      const fresh = await pool(level - held.length, 4, () => attach());
      held.push(...fresh);
      // what dockerd does after Join: the container end goes into the container's netns
      await ipBatch(host.ns.name, fresh.map((h) => `link set dev ${h.containerIf} netns ${sandbox!.name}`));
      say(`ovsvlan: ${held.length} endpoints attached (fill ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      const w: Window = { ports: level, attach: [], detach: [],
        parts: { 'RequestAddress': [], 'CreateEndpoint+Join': [], 'Leave+DeleteEndpoint': [], 'ReleaseAddress': [] } };
      const since = Date.now();
      for (let i = 0; i < scale.window; i++) {
        const a0 = performance.now();
        const h = await attach(w.parts);
        w.attach.push(performance.now() - a0);
        const d0 = performance.now();
        await detach(h, w.parts);
        w.detach.push(performance.now() - d0);
      }
      // the floor of any call: a no-op round trip on the same socket
      w.parts['no-op call (GetCapabilities)'] = [];
      for (let i = 0; i < scale.window; i++) {
        const t0 = performance.now();
        await call('/NetworkDriver.GetCapabilities', {});
        w.parts['no-op call (GetCapabilities)'].push(performance.now() - t0);
      }
      // what CreateEndpoint waits on inside the daemon: the journal's fsync, and ovs-vswitchd when the pool was empty
      w.parts[FSYNC_PROBE] = await fsyncProbe(RUN_DIR, scale.window);
      const logged = await loggedCreates(logFile, since, Date.now(), scale.window);
      w.parts[DAEMON_CREATE] = logged.map((c) => c.ms);
      creates.push({ ports: level, samples: logged.length, over20: logged.filter((c) => c.ms > 20).length, poolEmpty: logged.filter((c) => !c.spare).length });
      windows.push(w);
      rss = await rssMb(daemon!.pid);
    }
    api.close();
    api = undefined;

    await daemon!.stop();
    const restarted = await start();
    say(`ovsvlan: restart with ${held.length} endpoints: socket ${restarted.socketMs} ms, first reconciliation ${Number.isNaN(restarted.reconciledMs) ? 'none within 60 s' : `${restarted.reconciledMs} ms`}`);
    rss = Math.max(rss, await rssMb(daemon!.pid));
    return {
      series: { key: 'ovsvlan', label: 'ovsvlan', windows,
        attachIs: 'RequestAddress + CreateEndpoint + Join on the plugin socket (keep-alive), as dockerd sends them',
        detachIs: 'Leave + DeleteEndpoint + ReleaseAddress' },
      rssMb: rss, rssEmptyMb, endpoints: held.length, creates,
      startMs: restarted.reconciledMs, socketMs: restarted.socketMs, startEmptyMs: empty.reconciledMs, nodeStartMs,
      ...(restarted.failure ? { startFailure: restarted.failure } : {}), errors: await loggedErrors(logFile),
    };
  } finally {
    api?.close();
    await daemon?.stop();
    await sandbox?.remove(); // the container ends: their pairs go with them
    await host.ovs.vsctl(['--if-exists', 'del-br', bridge]).catch(() => undefined);
    await deleteVethsExcept(host.ns.name, before).catch(() => undefined);
    await rm(stateDir, { recursive: true, force: true });
    await rm(logFile, { force: true });
  }
}

/** VmRSS of `pid` in MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}
