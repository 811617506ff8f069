// Cluster addresses on a real three-member etcd (Debian's etcd 3.4, test/helpers/etcd.ts),
// each simulated host with its own etcd client (EtcdKv): three hosts take 60 addresses of
// one network at the same moment and get 60 distinct ones, each key naming its host; --ip of
// another host's address names it; `ovsvlan ipam reclaim` is refused while a host is alive
// and frees its addresses once it is gone; with every member stopped a new allocation fails
// with the etcd error and a release still resolves.
import t from 'tap';
import { openEtcdKv } from '../../src/cluster/etcd-kv.js';
import { Keys } from '../../src/cluster/keys.js';
import type { Kv } from '../../src/cluster/kv.js';
import { format, parseAddress } from '../../src/ipam/address.js';
import { SimHost, vlanSpec } from '../helpers/cluster-pool.js';
import { startEtcdCluster } from '../helpers/etcd.js';
import { OVSVLAN_MAIN, REPO_ROOT } from '../helpers/plugin.js';
import { RUN_PREFIX, run } from '../helpers/run.js';

const A = (a: string): bigint => parseAddress(a)!.value;

t.test('cluster addresses on a real etcd', async (t) => {
  const etcd = await startEtcdCluster('ca', { members: 3, t });
  const prefix = `/${RUN_PREFIX}-ca`;
  const keys = new Keys(prefix);
  const kvs: Kv[] = [];
  t.teardown(async () => {
    for (const kv of kvs) await kv.close().catch(() => undefined);
  });
  const hosts = await Promise.all(['h1', 'h2', 'h3'].map(async (id) => {
    const kv = await openEtcdKv({ endpoints: etcd.endpoints, ca: undefined, cert: undefined, key: undefined });
    kvs.push(kv);
    return new SimHost(kv, keys, id);
  }));
  const [h1, h2, h3] = hosts as [SimHost, SimHost, SimHost];
  const kv = kvs[0] as Kv;
  const spec = vlanSpec(860, '10.13.160.0/24', '10.13.160.1');
  for (const h of hosts) await h.networks.join(spec);

  await t.test('three hosts take 60 addresses at once: 60 distinct keys, each naming its host', async (t) => {
    const got = await Promise.all(hosts.flatMap((h) => Array.from({ length: 20 }, () => h.request(spec, undefined, A('10.13.160.1')).then((v) => ({ host: h.id, v })))));
    t.equal(new Set(got.map((g) => g.v)).size, 60, '60 distinct addresses');
    const { pairs } = await kv.range(keys.addresses(spec.ident));
    const held = new Map(pairs.map((p) => [p.key.slice(keys.addresses(spec.ident).length), (JSON.parse(p.value) as { host: string }).host]));
    t.equal(held.size, 60, '60 keys in etcd');
    t.ok(got.every((g) => held.get(format(4, g.v)) === g.host), 'each key names the host that got the address');
    t.notOk(held.has('10.13.160.1'), 'not the gateway');
  });

  await t.test('--ip of an address another host holds names that host', async (t) => {
    await h2.request(spec, A('10.13.160.250'));
    await t.rejects(h1.request(spec, A('10.13.160.250')), { name: 'ConflictError', message: 'address 10.13.160.250 is already in use by a container on host h2' });
  });

  const cli = (args: readonly string[]) => run(process.execPath, [OVSVLAN_MAIN, ...args], {
    cwd: REPO_ROOT, timeout: 60_000,
    env: { OVSVLAN_ETCD: etcd.endpoints.join(','), OVSVLAN_ETCD_PREFIX: prefix, OVSVLAN_HOST_ID: 'h1' },
  });

  await t.test('ovsvlan ipam reclaim: refused while the host is alive, frees its addresses once it is gone', async (t) => {
    const record = { id: 'h3', underlayIp: '10.99.0.4', encapsulations: [], mtu: 1500, versions: {}, epoch: 1, startedAt: 0, updatedAt: Date.now(), tunnels: {}, conflicts: [] };
    await kv.txn([], [{ op: 'put', key: keys.alive('h3'), value: JSON.stringify(record) }, { op: 'put', key: keys.info('h3'), value: JSON.stringify(record) }]);
    const refused = await cli(['ipam', 'reclaim', '--host', 'h3']);
    t.equal(refused.exitCode, 1, `refused: ${refused.stderr}`);
    t.match(refused.stderr, /host h3 is alive \(its liveness record is in etcd, updated \d+ s ago\)/);

    await kv.txn([], [{ op: 'delete', key: keys.alive('h3') }]);
    const h3Held = [...h3.held(spec.ident)].map((v) => format(4, v)).sort();
    const done = await cli(['ipam', 'reclaim', '--host', 'h3', '--json']);
    t.equal(done.exitCode, 0, `done: ${done.stderr}`);
    const result = JSON.parse(done.stdout) as { host: string; freed: Array<{ ident: string; address: string }> };
    t.same(result.freed.map((f) => f.address).sort(), h3Held, 'every address of h3 freed, and only those');
    const { pairs } = await kv.range(keys.addresses(spec.ident));
    t.equal(pairs.length, 61 - h3Held.length, 'the other hosts\' keys stay');
    t.ok(await kv.get(keys.fence('h3')), 'h3 fenced');
    await t.rejects(h3.request(spec), { name: 'ConflictError', message: /fenced/ }, 'h3 takes nothing new');

    const again = await cli(['ipam', 'reclaim', '--host', 'h3']);
    t.equal(again.exitCode, 0, 'a second run is harmless');
    t.match(again.stdout, /no address of it was left to free/);
    const unknown = await cli(['ipam', 'reclaim', '--host', 'nobody']);
    t.equal(unknown.exitCode, 1);
    t.match(unknown.stderr, /not known to the cluster/);
  });

  await t.test('every etcd member stopped: a new allocation fails with the etcd error, a release resolves', async (t) => {
    for (let i = 0; i < etcd.members.length; i++) await etcd.stop(i);
    await t.rejects(h1.request(spec), { name: 'ClusterUnreachableError', message: /^etcd unreachable: / });
    await t.resolves(h1.addresses.release(spec.ident, format(4, [...h1.held(spec.ident)][0]!)));
    const r = await cli(['ipam', 'reclaim', '--host', 'h2']);
    t.equal(r.exitCode, 2, 'reclaim: exit 2');
    t.match(r.stderr, /etcd unreachable/);
  });
});
