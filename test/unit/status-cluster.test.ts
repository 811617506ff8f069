// `ovsvlan status` in cluster mode, fed what etcd would answer: the CLUSTER
// section lists every host (alive or gone, fenced, underlay, epoch, addresses,
// tunnels, last update), this host's conflicts and the shared networks; --json
// carries the same as `cluster`; etcd unreadable is a "cannot read etcd" line
// and no section. A local-mode `ovsvlan status` does not load etcd3.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { formatStatus } from '../../src/cli/status.js';
import { statusReport } from '../../src/cli/report.js';
import type { Facts } from '../../src/cli/facts.js';
import type { ClusterStatus, HostRecord, NetworkDefinition } from '../../src/cluster/types.js';
import { emptyState } from '../../src/store/records.js';

const record = (id: string, over: Partial<HostRecord> = {}): HostRecord => ({
  id, underlayIp: `10.98.0.${id.slice(1)}`, encapsulations: ['vxlan', 'gre'], mtu: 1500, versions: { ovsvlan: '0.1.0' }, epoch: 3,
  startedAt: Date.UTC(2026, 11, 7, 2, 0, 0), updatedAt: Date.UTC(2026, 11, 7, 3, 4, 5, 678), tunnels: {}, conflicts: [], ...over,
});
const definition = (ident: string, subnet: string, hosts: string[], mesh: boolean): NetworkDefinition => ({
  ident, mode: mesh ? 'vxlan' : 'vlan', tag: Number(ident.split('.')[1]), subnets: [subnet], gateways: [''], aux: [], mtu: 1450, mtuExplicit: false,
  internal: false, mesh, hosts, createdBy: hosts[0] ?? 'h1', createdAt: 0,
});
const cluster: ClusterStatus = {
  hosts: [
    { record: record('h2', { tunnels: { 'vxlan.5001': 2 } }), alive: true, fenced: false, addresses: 7 },
    { record: record('h1', { tunnels: { 'vxlan.5001': 2 }, conflicts: [{ ident: 'vlan.860', address: '10.13.160.9', heldBy: 'h3' }] }), alive: true, fenced: true, addresses: 4 },
    { record: record('h3', { epoch: 9 }), alive: false, fenced: false, addresses: 1 },
  ],
  networks: [
    definition('vlan.860', '10.13.160.0/24', ['h1', 'h2', 'h3'], false),
    definition('vxlan.5001', '10.50.0.0/16', ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'], true),
  ],
};
const facts = (c: Facts['cluster']): Facts => ({
  state: { ok: true, value: emptyState() },
  ovs: { ok: true, value: { ovsVersion: '3.1.0', dbVersion: '8.3.1', curCfg: 1, nextCfg: 1, datapathTypes: ['system'], bridges: [], ports: new Map() } },
  links: { ok: true, value: [] },
  containers: new Map(),
  dockerView: { networks: new Map(), subnets: new Set(), containers: new Set() },
  cluster: c,
});

t.test('the CLUSTER section: hosts by id, this host marked, its conflicts, the shared networks', async (t) => {
  const report = statusReport(facts({ hostId: 'h1', status: { ok: true, value: cluster } }));
  t.same(report.unreadable, []);
  const text = formatStatus(report);
  const lines = text.split('\n');
  const at = lines.indexOf('CLUSTER (this host: h1; 2 of 3 hosts alive)');
  t.ok(at > 0, 'the section follows the local ones');
  t.match(lines[at + 1], /^ {2}HOST +STATE +FENCED +UNDERLAY +EPOCH +ADDRESSES +TUNNELS +UPDATED$/);
  t.match(lines[at + 2], /^ {2}h1 \(this\) +alive +yes +10\.98\.0\.1 +3 +4 +vxlan\.5001=2 +2026-12-07T03:04:05Z$/);
  t.match(lines[at + 3], /^ {2}h2 +alive +no +10\.98\.0\.2 +3 +7 +vxlan\.5001=2 /);
  t.match(lines[at + 4], /^ {2}h3 +gone +no +10\.98\.0\.3 +9 +1 +- /);
  t.equal(lines[at + 5], '  CONFLICT vlan.860 10.13.160.9 held by h3');
  t.equal(lines[at + 7], 'SHARED NETWORKS (2)');
  t.match(lines[at + 9], /^ {2}vlan\.860 +10\.13\.160\.0\/24 +no +3: h1,h2,h3$/);
  t.match(lines[at + 10], /^ {2}vxlan\.5001 +10\.50\.0\.0\/16 +yes +7: h1,h2,h3,h4,h5,…$/, 'a long host list is cut after five');
});

t.test('--json carries the section as `cluster`', async (t) => {
  const report = JSON.parse(JSON.stringify(statusReport(facts({ hostId: 'h2', status: { ok: true, value: cluster } })))) as ReturnType<typeof statusReport>;
  t.equal(report.cluster?.hostId, 'h2');
  t.same(report.cluster?.hosts.map((h) => [h.id, h.alive, h.fenced, h.addresses, h.tunnels]),
    [['h1', true, true, 4, { 'vxlan.5001': 2 }], ['h2', true, false, 7, { 'vxlan.5001': 2 }], ['h3', false, false, 1, {}]]);
  t.same(report.cluster?.conflicts, [], 'conflicts are this host\'s own (h2 has none)');
  t.same(report.cluster?.networks.map((n) => [n.ident, n.hosts.length, n.mesh]), [['vlan.860', 3, false], ['vxlan.5001', 7, true]]);
});

t.test('etcd unreadable: a "cannot read etcd" line, no section', async (t) => {
  const report = statusReport(facts({ hostId: 'h1', status: { ok: false, error: 'etcd unreachable: http://10.99.0.250:2379: connect ECONNREFUSED' } }));
  t.same(report.unreadable, [{ source: 'etcd', error: 'etcd unreachable: http://10.99.0.250:2379: connect ECONNREFUSED' }]);
  t.equal(report.cluster, undefined);
  const text = formatStatus(report);
  t.match(text, /^cannot read etcd: etcd unreachable: http:\/\/10\.99\.0\.250:2379: connect ECONNREFUSED$/m);
  t.notMatch(text, /CLUSTER/);
});

t.test('outside cluster mode: no section, nothing about etcd', async (t) => {
  const report = statusReport(facts(undefined));
  t.equal(report.cluster, undefined);
  t.same(report.unreadable, []);
  t.notMatch(formatStatus(report), /CLUSTER|etcd/);
});

t.test('local mode: `ovsvlan status` does not load etcd3 (the etcd modules are imported only when OVSVLAN_ETCD is set)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-status-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // a preload that says, as the process exits, whether any file of etcd3 was loaded
  const hook = join(dir, 'hook.cjs');
  await writeFile(hook, "process.on('exit', () => process.stderr.write('ETCD3_LOADED=' + Object.keys(require.cache).some((k) => k.includes('/node_modules/etcd3/')) + '\\n'));\n");
  const repo = fileURLToPath(new URL('../..', import.meta.url));
  const status = (env: Record<string, string>): Promise<string> => new Promise((resolve) => {
    execFile(process.execPath, ['--import=@tapjs/typescript/import', '-r', hook, 'src/main.ts', 'status'], {
      cwd: repo, timeout: 120_000,
      // nothing to read: OVS and Docker are unreachable, the state dir does not exist
      env: { PATH: process.env['PATH'] ?? '', OVSVLAN_OVSDB: `unix:${dir}/no.sock`, OVSVLAN_STATE_DIR: `${dir}/state`, OVSVLAN_DOCKER: '', ...env },
    }, (_err, _stdout, stderr) => resolve(stderr));
  });
  const [local, cluster] = await Promise.all([
    status({}),
    status({ OVSVLAN_ETCD: 'http://127.0.0.1:1', OVSVLAN_HOST_ID: 'h1' }),
  ]);
  t.match(local, /ETCD3_LOADED=false/, 'local mode: etcd3 not loaded');
  t.match(cluster, /ETCD3_LOADED=true/, 'cluster mode: loaded (the check can tell)');
});
