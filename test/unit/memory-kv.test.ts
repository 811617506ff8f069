// The in-memory Kv the cluster logic's unit tests run on: the Kv contract
// (test/helpers/kv-contract.ts, also run against a real etcd), and its test
// hooks: compaction makes an old watch reset, an expired lease loses its keys
// and tells its owner, an unreachable store rejects every call and resets
// every watch, a released lease's keys go when its TTL runs out.
import t from 'tap';
import { ClusterUnreachableError, type KvEvent } from '../../src/cluster/kv.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import { kvContract } from '../helpers/kv-contract.js';
import { sleep, waitFor } from '../helpers/run.js';

t.test('the Kv contract', async (t) => {
  kvContract(t, async () => {
    const kv = new MemoryKv();
    return { kv, cleanup: () => kv.close() };
  });
});

t.test('compact: a watch from a compacted revision resets; from the compaction on it replays', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const first = await kv.txn([], [{ op: 'put', key: '/k/a', value: '1' }]);
  const second = await kv.txn([], [{ op: 'put', key: '/k/a', value: '2' }]);
  kv.compact(second.revision);
  const resets: string[] = [];
  const events: KvEvent[] = [];
  await kv.watch('/k/', first.revision, { onEvents: (e) => void events.push(...e), onReset: (r) => void resets.push(r) });
  await waitFor('the reset', async () => resets.length === 1, 2_000);
  t.match(resets[0], /compacted/);
  await kv.txn([], [{ op: 'put', key: '/k/a', value: '3' }]);
  await sleep(50);
  t.same(events, [], 'a reset watch hears nothing more');
  const replayed: KvEvent[] = [];
  await kv.watch('/k/', second.revision, { onEvents: (e) => void replayed.push(...e), onReset: () => t.fail('no reset') });
  await waitFor('the replay', async () => replayed.length === 2, 2_000);
  t.same(replayed.map((e) => e.value), ['2', '3']);
});

t.test('expireLease: keys go, onLost fires once, put on the lost lease is refused', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const lease = await kv.grantLease(15);
  await kv.txn([], [{ op: 'put', key: '/h/alive', value: 'x', lease: lease.id }]);
  const lost: string[] = [];
  lease.onLost((r) => void lost.push(r));
  kv.expireLease(lease.id);
  kv.expireLease(lease.id);
  t.equal(await kv.get('/h/alive'), undefined);
  await waitFor('onLost', async () => lost.length === 1, 2_000);
  await sleep(20);
  t.equal(lost.length, 1, 'once');
  await t.rejects(kv.txn([], [{ op: 'put', key: '/h/alive', value: 'x', lease: lease.id }]), /lease not found/);
});

t.test('a released lease keeps its keys until its TTL runs out, and does not call onLost', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const lease = await kv.grantLease(1);
  await kv.txn([], [{ op: 'put', key: '/h/alive', value: 'x', lease: lease.id }]);
  lease.onLost(() => t.fail('released: nobody to tell'));
  await sleep(1_300);
  t.ok(await kv.get('/h/alive'), 'kept alive past its TTL by keepalives');
  lease.release();
  t.ok(await kv.get('/h/alive'), 'still there right after release');
  await waitFor('the key to expire', async () => (await kv.get('/h/alive')) === undefined, 3_000);
});

t.test('setUnreachable: every call rejects, watches reset, a lease expires after its TTL; back, calls work', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const lease = await kv.grantLease(1);
  await kv.txn([], [{ op: 'put', key: '/h/alive', value: 'x', lease: lease.id }]);
  const lost: string[] = [];
  lease.onLost((r) => void lost.push(r));
  const resets: string[] = [];
  await kv.watch('/h/', 0, { onEvents: () => {}, onReset: (r) => void resets.push(r) });
  kv.setUnreachable(true);
  const calls: Array<() => Promise<unknown>> = [
    () => kv.get('/h/alive'),
    () => kv.range('/h/'),
    () => kv.txn([], []),
    () => kv.grantLease(5),
    () => kv.watch('/h/', 0, { onEvents: () => {}, onReset: () => {} }),
    () => lease.revoke(),
  ];
  for (const call of calls) await t.rejects(call(), ClusterUnreachableError);
  await t.rejects(kv.get('/h/alive'), /^etcd unreachable: /);
  await waitFor('the watch reset', async () => resets.length === 1, 2_000);
  await waitFor('the lease lost', async () => lost.length === 1, 3_000);
  kv.setUnreachable(false);
  t.equal(await kv.get('/h/alive'), undefined, 'the expired lease\'s key is gone');
  t.ok((await kv.txn([], [{ op: 'put', key: '/h/b', value: 'y' }])).succeeded, 'calls work again');
});
