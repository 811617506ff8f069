// `ovsvlan ipam reclaim` (src/cluster/reclaim.ts) and the cluster status
// (src/cluster/status.ts) on the in-memory etcd: reclaim is refused while the
// host's liveness record is there and for a host etcd never heard of; it
// fences first, frees only that host's addresses, takes it out of every
// definition (deleting one left with no host), and a second run frees nothing
// more. Status shows hosts alive or not, fenced, and their address counts.
import t from 'tap';
import { Keys } from '../../src/cluster/keys.js';
import type { Kv } from '../../src/cluster/kv.js';
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

/**
 * A Kv that runs `after` once, right after the first transaction whose success
 * ops match `when` applied; with `retry`, that transaction is then sent again
 * and the retry's answer returned (the etcd store retries a slow call on
 * another member: the first may have applied).
 */
function hooked(kv: Kv, when: (key: string, op: 'put' | 'delete') => boolean, after: () => Promise<unknown>, retry = false): Kv {
  let done = false;
  return {
    get: (k) => kv.get(k), range: (p) => kv.range(p), watch: (p, r, h) => kv.watch(p, r, h), grantLease: (ttl) => kv.grantLease(ttl), close: () => kv.close(),
    txn: async (c, ok, f) => {
      const r = await kv.txn(c, ok, f);
      if (done || !ok.some((op) => when(op.key, op.op))) return r;
      done = true;
      await after();
      return retry ? kv.txn(c, ok, f) : r;
    },
  };
}

t.test('the host comes back between the fence and the deletes: its keys stay, it stays in its definition, reclaim says so', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const spec = vlanSpec(862, '10.13.162.0/24', '10.13.162.1');
  const h1 = new SimHost(kv, keys, 'h1');
  await h1.networks.join(spec);
  await h1.request(spec, A('10.13.162.5'));
  await h1.request(spec, A('10.13.162.6'));
  await put(kv, keys.info('h1'), record('h1'));
  const returning = hooked(kv, (key, op) => op === 'put' && key === keys.fence('h1'), () => put(kv, keys.alive('h1'), record('h1')));

  await t.rejects(reclaimHost(returning, keys, 'h1', 'h2'), { name: 'ConflictError', message: /^host h1 came back while it was being reclaimed: 0 of its 2 address\(es\) had been freed/ });
  t.ok(await kv.get(keys.address(spec.ident, '10.13.162.5')), 'its first key stays');
  t.ok(await kv.get(keys.address(spec.ident, '10.13.162.6')), 'its second key stays');
  t.same((await h1.networks.get(spec.ident))?.hosts, ['h1'], 'still in the definition');
});

t.test('a delete retried after it had applied (its compare then fails on a missing key) counts as freed', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const spec = vlanSpec(863, '10.13.163.0/24', '10.13.163.1');
  const h1 = new SimHost(kv, keys, 'h1');
  await h1.networks.join(spec);
  await h1.request(spec, A('10.13.163.5'));
  let retries = 0;
  // the etcd store retries a call on another member when the first is slow: the first delete applied, the retry answers
  const retried = hooked(kv, (key, op) => op === 'delete' && key.startsWith(keys.addresses()), async () => {
    retries++;
  }, true);
  t.same(await reclaimHost(retried, keys, 'h1', 'h2'), { host: 'h1', freed: [{ ident: spec.ident, address: '10.13.163.5' }] });
  t.equal(retries, 1, 'the delete was retried');
});

t.test('etcd unreachable: reclaim fails with "etcd unreachable: …"', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  kv.setUnreachable(true);
  await t.rejects(reclaimHost(kv, keys, 'h1', 'h2'), { name: 'ClusterUnreachableError', message: /^etcd unreachable: / });
  await t.rejects(readClusterStatus(kv, keys), { name: 'ClusterUnreachableError' });
});
