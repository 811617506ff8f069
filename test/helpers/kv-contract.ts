// The Kv contract (src/cluster/kv.ts): the same assertions run against the
// in-memory store (test/unit/memory-kv.test.ts) and against a real etcd
// (test/integration/etcd-kv.test.ts), so the logic unit-tested on the one
// behaves the same on the other.
import type { Test } from 'tap';
import type { Kv, KvEvent } from '../../src/cluster/kv.js';
import { RUN_PREFIX, sleep, waitFor } from './run.js';

export interface KvUnderTest {
  readonly kv: Kv;
  cleanup(): Promise<void>;
}

/** Registers the contract's subtests on `t`; each gets a fresh store from `make` and its own key prefix. */
export function kvContract(t: Test, make: () => Promise<KvUnderTest>): void {
  let n = 0;
  const fresh = async (t: Test): Promise<{ kv: Kv; p: string }> => {
    const store = await make();
    t.teardown(() => store.cleanup());
    return { kv: store.kv, p: `/${RUN_PREFIX}/contract-${process.pid}-${++n}/` };
  };

  t.test('create by CAS on version 0: of 20 concurrent creators exactly one wins', async (t) => {
    const { kv, p } = await fresh(t);
    const key = `${p}ip/10.0.0.5`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => kv.txn([{ key, target: 'version', op: '==', value: 0 }], [{ op: 'put', key, value: `owner-${i}` }])),
    );
    const winners = results.flatMap((r, i) => (r.succeeded ? [i] : []));
    t.equal(winners.length, 1, 'one creator succeeded');
    const pair = await kv.get(key);
    t.equal(pair?.value, `owner-${winners[0]}`, 'the key holds the winner\'s value');
    t.equal(pair?.version, 1, 'version 1: created once');
    t.equal(pair?.createRevision, pair?.modRevision, 'created and last changed at one revision');
  });

  t.test('get of a missing key; revisions and versions as a key changes', async (t) => {
    const { kv, p } = await fresh(t);
    t.equal(await kv.get(`${p}none`), undefined);
    const first = await kv.txn([], [{ op: 'put', key: `${p}a`, value: '1' }]);
    const second = await kv.txn([], [{ op: 'put', key: `${p}a`, value: '2' }]);
    t.ok(second.revision > first.revision, 'each write makes a new store revision');
    const pair = await kv.get(`${p}a`);
    t.match(pair, { key: `${p}a`, value: '2', createRevision: first.revision, modRevision: second.revision, version: 2, lease: undefined });
  });

  t.test('compares on modRevision and value; the failure ops run when one fails', async (t) => {
    const { kv, p } = await fresh(t);
    const key = `${p}k`;
    const { revision } = await kv.txn([], [{ op: 'put', key, value: 'mine' }]);
    const stale = await kv.txn(
      [{ key, target: 'modRevision', op: '==', value: revision - 1 }],
      [{ op: 'delete', key }],
      [{ op: 'put', key: `${p}failed`, value: 'yes' }],
    );
    t.notOk(stale.succeeded, 'a stale modRevision fails');
    t.equal((await kv.get(`${p}failed`))?.value, 'yes', 'the failure ops applied');
    t.equal((await kv.get(key))?.value, 'mine', 'the success ops did not');
    t.notOk((await kv.txn([{ key, target: 'value', op: '==', value: 'theirs' }], [{ op: 'delete', key }])).succeeded, 'value == other fails');
    t.notOk((await kv.txn([{ key, target: 'modRevision', op: '>', value: revision }], [{ op: 'delete', key }])).succeeded, 'modRevision > current fails');
    t.notOk((await kv.txn([{ key, target: 'createRevision', op: '<', value: revision }], [{ op: 'delete', key }])).succeeded, 'createRevision < its own fails');
    const owned = await kv.txn(
      [{ key, target: 'value', op: '==', value: 'mine' }, { key, target: 'modRevision', op: '==', value: revision }, { key, target: 'version', op: '!=', value: 0 }],
      [{ op: 'delete', key }],
    );
    t.ok(owned.succeeded, 'every compare holds: the success ops apply');
    t.equal(await kv.get(key), undefined, 'the key was deleted');
    t.ok((await kv.txn([{ key, target: 'value', op: '!=', value: 'x' }], [], [])).succeeded === false, 'a value compare on a missing key is false');
  });

  t.test('range by prefix: key order, revisions, nothing outside the prefix', async (t) => {
    const { kv, p } = await fresh(t);
    for (const k of ['b', 'a/2', 'a/1', 'c']) await kv.txn([], [{ op: 'put', key: `${p}${k}`, value: k }]);
    await kv.txn([], [{ op: 'put', key: `${p.slice(0, -1)}x`, value: 'outside' }]);
    const { pairs, revision } = await kv.range(`${p}a/`);
    t.same(pairs.map((x) => x.key), [`${p}a/1`, `${p}a/2`], 'only the prefix, in key order');
    t.ok(pairs.every((x) => typeof x.modRevision === 'number' && x.modRevision <= revision && x.version === 1), 'revisions are numbers at or below the read\'s');
    t.same((await kv.range(p)).pairs.map((x) => x.value), ['a/1', 'a/2', 'b', 'c']);
    await kv.txn([], [{ op: 'delete', key: `${p.slice(0, -1)}x` }]);
  });

  t.test('a watch from a range\'s revision + 1 sees, in order, every change after the range, also those made before the watch', async (t) => {
    const { kv, p } = await fresh(t);
    await kv.txn([], [{ op: 'put', key: `${p}before`, value: '0' }]);
    const { revision } = await kv.range(p);
    await kv.txn([], [{ op: 'put', key: `${p}k1`, value: 'v1' }]); // between the range and the watch
    await kv.txn([], [{ op: 'delete', key: `${p}before` }]);
    const seen: KvEvent[] = [];
    const resets: string[] = [];
    const watch = await kv.watch(p, revision + 1, { onEvents: (events) => void seen.push(...events), onReset: (r) => void resets.push(r) });
    t.teardown(() => watch.close());
    await kv.txn([], [{ op: 'put', key: `${p}k1`, value: 'v2' }, { op: 'put', key: `${p}k2`, value: 'w' }]);
    await kv.txn([], [{ op: 'delete', key: `${p}k2` }]);
    await kv.txn([], [{ op: 'put', key: `${p.slice(0, -1)}-not-under`, value: 'x' }]);
    await waitFor('five events', async () => seen.length >= 5, 5_000);
    t.same(seen.map((e) => `${e.type} ${e.key.slice(p.length)} ${e.value}`), ['put k1 v1', 'delete before ', 'put k1 v2', 'put k2 w', 'delete k2 ']);
    t.ok(seen.every((e, i) => i === 0 || e.modRevision >= (seen[i - 1] as KvEvent).modRevision), 'in revision order');
    t.equal(seen[2]?.modRevision, seen[3]?.modRevision, 'one transaction: one revision');
    await sleep(200);
    t.equal(seen.length, 5, 'nothing outside the prefix');
    t.same(resets, [], 'no reset');
    await kv.txn([], [{ op: 'delete', key: `${p.slice(0, -1)}-not-under` }]);
  });

  t.test('a closed watch hears nothing more', async (t) => {
    const { kv, p } = await fresh(t);
    const seen: KvEvent[] = [];
    const watch = await kv.watch(p, 0, { onEvents: (events) => void seen.push(...events), onReset: () => {} });
    await kv.txn([], [{ op: 'put', key: `${p}a`, value: '1' }]);
    await waitFor('the first event', async () => seen.length === 1, 5_000);
    await watch.close();
    await kv.txn([], [{ op: 'put', key: `${p}a`, value: '2' }]);
    await sleep(200);
    t.equal(seen.length, 1);
  });

  t.test('keys put with a lease vanish when it is revoked; others stay', async (t) => {
    const { kv, p } = await fresh(t);
    const lease = await kv.grantLease(10);
    t.match(lease.id, /^\d+$/, 'a decimal id');
    t.equal(lease.ttlSeconds, 10);
    await kv.txn([], [{ op: 'put', key: `${p}alive`, value: 'h1', lease: lease.id }, { op: 'put', key: `${p}kept`, value: 'h1' }]);
    t.equal((await kv.get(`${p}alive`))?.lease, lease.id, 'the key names its lease');
    const lost: string[] = [];
    lease.onLost((r) => void lost.push(r));
    await lease.revoke();
    t.equal(await kv.get(`${p}alive`), undefined, 'the leased key is gone');
    t.equal((await kv.get(`${p}kept`))?.value, 'h1', 'the unleased key stays');
    await sleep(100);
    t.same(lost, [], 'revoking one\'s own lease is not losing it');
  });
}
