// `ovsvlan status` (the built CLI) in cluster mode, run as an operator runs it, inside a netns with
// a private OVS and a one-member etcd on that netns's loopback: with etcd answering it prints the
// CLUSTER section read from etcd (a host's record, its fence, its addresses, a shared network) and
// exits 0; with OVSVLAN_ETCD naming nothing that answers it prints "cannot read etcd: etcd
// unreachable: …" and exits 2 (drift cannot be judged); without OVSVLAN_ETCD, no section and 0.
import { mkdir, rm } from 'node:fs/promises';
import t from 'tap';
import { Keys } from '../../src/cluster/keys.js';
import type { HostRecord, NetworkDefinition } from '../../src/cluster/types.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { startOvsInNetns } from '../helpers/ovs.js';
import { OVSVLAN_MAIN, REPO_ROOT } from '../helpers/plugin.js';
import { RUN_DIR, RUN_PREFIX, run, type RunResult } from '../helpers/run.js';

const { ns, ovs } = await startOvsInNetns(t, 'stc');
const etcd = await startEtcdCluster('stc', { members: 1, t, netns: ns.name, address: '127.0.0.1' });
const prefix = `/${RUN_PREFIX}-stc`;
const keys = new Keys(prefix);
const stateDir = `${RUN_DIR}/state-stc`;
await mkdir(stateDir, { recursive: true });
t.teardown(() => rm(stateDir, { recursive: true, force: true }));

const status = (env: Record<string, string>, args: string[] = []): Promise<RunResult> =>
  run('ip', ['netns', 'exec', ns.name, process.execPath, OVSVLAN_MAIN, 'status', ...args], {
    cwd: REPO_ROOT,
    timeout: 60_000,
    env: { OVSVLAN_OVSDB: ovs.endpoint, OVSVLAN_STATE_DIR: stateDir, OVSVLAN_DOCKER: '', ...env },
  });

/** The cluster settings of host h1 with etcd at `endpoints`. */
const cluster = (endpoints: string): Record<string, string> => ({ OVSVLAN_ETCD: endpoints, OVSVLAN_ETCD_PREFIX: prefix, OVSVLAN_HOST_ID: 'h1' });

const put = async (key: string, value: string): Promise<void> => {
  const r = await etcd.etcdctl(['put', key, value]);
  if (r.exitCode !== 0) throw new Error(`etcdctl put ${key}: ${r.stderr}`);
};

t.test('etcd answers: the CLUSTER section, exit 0', async (t) => {
  const record: HostRecord = {
    id: 'h2', underlayIp: '10.99.0.2', encapsulations: ['vxlan'], mtu: 1500, versions: { ovsvlan: '0.1.0' }, epoch: 4,
    startedAt: Date.UTC(2026, 11, 7, 1), updatedAt: Date.UTC(2026, 11, 7, 2, 3, 4), tunnels: { 'vxlan.5001': 1 }, conflicts: [],
  };
  const definition: NetworkDefinition = {
    ident: 'vxlan.5001', mode: 'vxlan', tag: 5001, subnets: ['10.50.0.0/24'], gateways: ['10.50.0.1'], aux: [], mtu: 1450, mtuExplicit: false,
    internal: false, mesh: true, hosts: ['h2'], createdBy: 'h2', createdAt: 0,
  };
  await put(keys.info('h2'), JSON.stringify(record));
  await put(keys.fence('h2'), JSON.stringify({ by: 'h1', at: 0 }));
  await put(keys.address('vxlan.5001', '10.50.0.7'), JSON.stringify({ host: 'h2', epoch: 4, at: 0 }));
  await put(keys.network('vxlan.5001'), JSON.stringify(definition));

  const r = await status(cluster(etcd.endpoints.join(',')));
  t.equal(r.exitCode, 0, `exit 0 (stderr: ${r.stderr})`);
  t.match(r.stdout, /^CLUSTER \(this host: h1; 0 of 1 hosts alive\)$/m);
  t.match(r.stdout, /^ {2}h2 +gone +yes +10\.99\.0\.2 +4 +1 +vxlan\.5001=1 +2026-12-07T02:03:04Z$/m, 'h2: gone, fenced, one address, its tunnels');
  t.match(r.stdout, /^ {2}vxlan\.5001 +10\.50\.0\.0\/24 +yes +1: h2$/m, 'the shared network');
  const json = JSON.parse((await status(cluster(etcd.endpoints.join(',')), ['--json'])).stdout) as { cluster?: { hosts: unknown[] } };
  t.equal(json.cluster?.hosts.length, 1, '--json has the cluster');
});

t.test('etcd unreachable: "cannot read etcd", exit 2', async (t) => {
  const started = Date.now();
  const r = await status(cluster('http://127.0.0.1:2999'));
  t.equal(r.exitCode, 2);
  t.match(r.stdout, /^cannot read etcd: etcd unreachable: .*127\.0\.0\.1:2999/m);
  t.notMatch(r.stdout, /^CLUSTER/m);
  t.comment(`answered in ${Date.now() - started} ms`);
});

t.test('local mode: no section, exit 0', async (t) => {
  const r = await status({});
  t.equal(r.exitCode, 0, `exit 0 (stderr: ${r.stderr})`);
  t.notMatch(r.stdout, /CLUSTER|etcd/);
});
