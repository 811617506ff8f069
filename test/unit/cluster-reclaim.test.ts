// `ovsvlan ipam reclaim` (src/cluster/reclaim.ts) and the cluster status
// (src/cluster/status.ts) on the in-memory etcd: reclaim is refused while the
// host's liveness record is there and for a host etcd never heard of; it
// fences first, frees only that host's addresses, takes it out of every
// definition (deleting one left with no host), and a second run frees nothing
// more. Status shows hosts alive or not, fenced, and their address counts.
import t from 'tap';
import { Keys } from '../../src/cluster/keys.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import { reclaimHost } from '../../src/cluster/reclaim.js';
import { readClusterStatus } from '../../src/cluster/status.js';
import { HOST_TTL_SECONDS } from '../../src/cluster/types.js';
import { parseAddress } from '../../src/ipam/address.js';
import { SimHost, vlanSpec } from '../helpers/cluster-pool.js';

const keys = new Keys('/t');
const A = (a: string): bigint => parseAddress(a)!.value;
const record = (id: string, updatedAt = Date.now()): string =>
  JSON.stringify({ id, underlayIp: '10.99.0.2', encapsulations: ['vxlan'], mtu: 1500, versions: {}, epoch: 1, startedAt: 0, updatedAt, tunnels: {}, conflicts: [] });

async function put(kv: MemoryKv, key: string, value: string): Promise<void> {
  await kv.txn([], [{ op: 'put', key, value }]);
}

t.test('refused while the host is alive, and for a host etcd never heard of', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  await put(kv, keys.alive('h1'), record('h1', Date.now() - 3_000));
  await t.rejects(reclaimHost(kv, keys, 'h1', 'h2'), {
    name: 'ConflictError',
    message: `host h1 is alive (its liveness record is in etcd, updated 3 s ago): stop its daemon first, or wait ${HOST_TTL_SECONDS} s after it stopped`,
  });
  t.equal(await kv.get(keys.fence('h1')), undefined, 'no fence written');
  await t.rejects(reclaimHost(kv, keys, 'nobody', 'h2'), { name: 'NotFoundError', message: /host nobody is not known to the cluster/ });
});

t.test('fences, frees only that host\'s addresses, leaves its definitions; a second run frees nothing more', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const both = vlanSpec(860, '10.13.160.0/24', '10.13.160.1');
  const alone = vlanSpec(861, '10.13.161.0/24', '10.13.161.1');
  const h1 = new SimHost(kv, keys, 'h1');
  const h2 = new SimHost(kv, keys, 'h2');
  await h1.networks.join(both);
  await h2.networks.join(both);
  await h1.networks.join(alone);
  await h1.request(both, A('10.13.160.5'));
  await h1.request(alone, A('10.13.161.5'));
  await h2.request(both, A('10.13.160.6'));
  await put(kv, keys.info('h1'), record('h1'));
  await put(kv, keys.alive('h2'), record('h2'));

  const first = await reclaimHost(kv, keys, 'h1', 'h2');
  t.same(first, { host: 'h1', freed: [{ ident: 'vlan.860', address: '10.13.160.5' }, { ident: 'vlan.861', address: '10.13.161.5' }] });
  t.match(JSON.parse((await kv.get(keys.fence('h1')))!.value), { by: 'h2' }, 'fenced');
  t.ok(await kv.get(keys.address(both.ident, '10.13.160.6')), 'the other host\'s address stays');
  t.same((await h2.networks.get(both.ident))?.hosts, ['h2'], 'out of the shared definition');
  t.equal(await h2.networks.get(alone.ident), undefined, 'a definition left with no host is deleted');
  t.same(await reclaimHost(kv, keys, 'h1', 'h2'), { host: 'h1', freed: [] }, 'idempotent');

  const status = await readClusterStatus(kv, keys);
  t.same(status.hosts.map((h) => [h.record.id, h.alive, h.fenced, h.addresses]), [['h1', false, true, 0], ['h2', true, false, 1]]);
  t.same(status.networks.map((n) => [n.ident, n.hosts]), [['vlan.860', ['h2']]]);
});

t.test('etcd unreachable: reclaim fails with "etcd unreachable: …"', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  kv.setUnreachable(true);
  await t.rejects(reclaimHost(kv, keys, 'h1', 'h2'), { name: 'ClusterUnreachableError', message: /^etcd unreachable: / });
  await t.rejects(readClusterStatus(kv, keys), { name: 'ClusterUnreachableError' });
});
