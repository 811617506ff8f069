// Address sync (src/cluster/address-sync.ts) on the in-memory etcd, both ways:
// a local lease whose key is missing is written again, a key of this host no
// lease explains is released (at once from an earlier epoch; from this one
// only when settled and a few seconds old), memberships follow the local
// networks, and after a reclaim a returning host restores what nobody took,
// reports what another host took as a conflict, and clears its fence.
import t from 'tap';
import { EtcdAddressSync } from '../../src/cluster/address-sync.js';
import { Keys } from '../../src/cluster/keys.js';
import type { Kv } from '../../src/cluster/kv.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import { reclaimHost } from '../../src/cluster/reclaim.js';
import type { SharedSpec } from '../../src/cluster/types.js';
import { parseAddress, parsePrefix } from '../../src/ipam/address.js';
import { SimHost, vlanSpec } from '../helpers/cluster-pool.js';
import { captureLogger } from '../helpers/log.js';

const keys = new Keys('/t');
const A = (a: string): bigint => parseAddress(a)!.value;

function syncOf(kv: MemoryKv, h: SimHost, specs: readonly SharedSpec[]): EtcdAddressSync {
  return new EtcdAddressSync(kv, keys, { hostId: h.id, epoch: () => h.epoch }, h.view(specs), h.addresses, h.networks, captureLogger().logger);
}

async function putHolder(kv: MemoryKv, ident: string, address: string, host: string, epoch: number, at = Date.now()): Promise<void> {
  await kv.txn([], [{ op: 'put', key: keys.address(ident, address), value: JSON.stringify({ host, epoch, at }) }]);
}

async function holderOf(kv: MemoryKv, ident: string, address: string): Promise<string | undefined> {
  const pair = await kv.get(keys.address(ident, address));
  return pair && (JSON.parse(pair.value) as { host: string }).host;
}

t.test('a lease without its key is restored; keys no lease explains are released, young and in-flight ones kept', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const spec = vlanSpec(860, '10.13.160.0/24', '10.13.160.1');
  const h1 = new SimHost(kv, keys, 'h1', 2);
  await h1.networks.join(spec);
  h1.held(spec.ident).add(A('10.13.160.10')); // leased locally, its key lost (a crash between the saves, or etcd away)
  await putHolder(kv, spec.ident, '10.13.160.11', 'h1', 1); // an earlier epoch, no lease: released while etcd was away
  await putHolder(kv, spec.ident, '10.13.160.12', 'h1', 2, Date.now() - 60_000); // this epoch, old, no lease
  await putHolder(kv, spec.ident, '10.13.160.13', 'h1', 2); // this epoch, young: an allocation between its two saves
  await putHolder(kv, spec.ident, '10.13.160.14', 'h2', 1); // another host's: not this host's business
  const prefix = parsePrefix(spec.subnets[0]!)!;
  const inFlight = await h1.addresses.allocate({ ident: spec.ident, prefix, range: prefix, wanted: A('10.13.160.15'), last: undefined, isTakenLocally: () => false });
  await putHolder(kv, spec.ident, '10.13.160.15', 'h1', 2, Date.now() - 60_000); // as if it had been in flight for a minute
  await putHolder(kv, spec.ident, '10.13.160.16', 'h1', 1); // an earlier epoch's, that Docker's replay is being answered with
  const replay = await h1.addresses.allocate({ ident: spec.ident, prefix, range: prefix, wanted: A('10.13.160.16'), last: undefined, isTakenLocally: () => false });

  const report = await syncOf(kv, h1, [spec]).run();
  t.same(report, { restored: 1, released: 2, conflicts: [] });
  t.equal(await holderOf(kv, spec.ident, '10.13.160.10'), 'h1', 'restored');
  t.equal(await holderOf(kv, spec.ident, '10.13.160.11'), undefined, 'an earlier epoch\'s released');
  t.equal(await holderOf(kv, spec.ident, '10.13.160.12'), undefined, 'an old one of this epoch released');
  t.equal(await holderOf(kv, spec.ident, '10.13.160.13'), 'h1', 'a young one kept');
  t.equal(await holderOf(kv, spec.ident, '10.13.160.14'), 'h2', 'another host\'s kept');
  t.equal(await holderOf(kv, spec.ident, '10.13.160.15'), 'h1', 'one in flight kept');
  t.equal(await holderOf(kv, spec.ident, '10.13.160.16'), 'h1', 'one of an earlier epoch in flight (a replay) kept');
  inFlight.settle();
  replay.settle();
  t.match(JSON.parse((await kv.get(keys.address(spec.ident, '10.13.160.16')))!.value), { host: 'h1', epoch: 2 }, 'the replay put its key again, of this epoch');
  t.same(await syncOf(kv, h1, [spec]).run(), { restored: 0, released: 1, conflicts: [] }, 'settled without a lease: released on the next pass (the replayed one once it is old)');
});

t.test('memberships: a missing definition is written again, one this host no longer has is left', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const kept = vlanSpec(861, '10.13.161.0/24', '10.13.161.1');
  const gone = vlanSpec(862, '10.13.162.0/24', '10.13.162.1');
  const h1 = new SimHost(kv, keys, 'h1');
  const h2 = new SimHost(kv, keys, 'h2');
  await h2.networks.join(gone);
  await h2.networks.join(kept);
  await kv.txn([], [{ op: 'put', key: keys.network(gone.ident), value: JSON.stringify({ ...gone, hosts: ['h1', 'h2'], createdBy: 'h2', createdAt: 1 }) }]);
  await kv.txn([], [{ op: 'delete', key: keys.network(kept.ident) }]); // lost (a reclaim took its last host)
  await syncOf(kv, h1, [kept]).run();
  t.same((await h1.networks.get(kept.ident))?.hosts, ['h1'], 'written again from the local spec');
  t.same((await h1.networks.get(gone.ident))?.hosts, ['h2'], 'left');
});

t.test('after a reclaim: the returning host restores what nobody took, reports what another took, clears its fence', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const spec = vlanSpec(863, '10.13.163.0/24', '10.13.163.1');
  const h1 = new SimHost(kv, keys, 'h1', 1);
  const h2 = new SimHost(kv, keys, 'h2', 1);
  await h1.networks.join(spec);
  await h2.networks.join(spec);
  await h1.request(spec, A('10.13.163.20'));
  await h1.request(spec, A('10.13.163.21'));
  await kv.txn([], [{ op: 'put', key: keys.info('h1'), value: JSON.stringify({ id: 'h1', underlayIp: '10.99.0.2', encapsulations: [] }) }]);

  const result = await reclaimHost(kv, keys, 'h1', 'h2');
  t.same(result.freed.map((f) => f.address).sort(), ['10.13.163.20', '10.13.163.21']);
  t.equal(await h2.request(spec, A('10.13.163.21')), A('10.13.163.21'), 'another host takes a freed address');

  h1.epoch = 2; // h1 comes back with its old containers
  await t.rejects(h1.request(spec), { name: 'ConflictError', message: /fenced/ }, 'nothing new before its sync');
  const report = await syncOf(kv, h1, [spec]).run();
  t.equal(report.restored, 1);
  t.same(report.conflicts, [{ ident: spec.ident, address: '10.13.163.21', heldBy: 'h2' }], 'the taken one is a conflict');
  t.equal(await holderOf(kv, spec.ident, '10.13.163.20'), 'h1', 'the free one is h1\'s again');
  t.equal(await holderOf(kv, spec.ident, '10.13.163.21'), 'h2', 'the taken one stays h2\'s');
  t.equal(await kv.get(keys.fence('h1')), undefined, 'the fence is cleared');
  t.same((await h1.networks.get(spec.ident))?.hosts, ['h1', 'h2'], 'h1 is back in the definition');
  t.ok(await h1.request(spec), 'new addresses again');
  t.same((await syncOf(kv, h1, [spec]).run()).conflicts, [{ ident: spec.ident, address: '10.13.163.21', heldBy: 'h2' }], 'still reported, never taken back');
});

/** A Kv that holds back the first transaction deleting `key` until `release()`; `reached` resolves when it arrives. */
function gatedDelete(kv: Kv, key: string): { kv: Kv; reached: Promise<void>; release: () => void } {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const gated: Kv = {
    get: (k) => kv.get(k),
    range: (p) => kv.range(p),
    txn: async (c, ok, f) => {
      if (!held && ok.some((op) => op.op === 'delete' && op.key === key)) {
        held = true;
        arrive();
        await gate;
      }
      return kv.txn(c, ok, f);
    },
    watch: (p, r, h) => kv.watch(p, r, h),
    grantLease: (ttl) => kv.grantLease(ttl),
    close: () => kv.close(),
  };
  return { kv: gated, reached, release };
}

t.test('--ip of a key this host holds while sync\'s delete of it (judged stale) is in flight: the key stays held, another host\'s --ip fails', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const spec = vlanSpec(864, '10.13.164.0/24', '10.13.164.1');
  const key = keys.address(spec.ident, '10.13.164.50');
  const gate = gatedDelete(kv, key);
  const h1 = new SimHost(gate.kv, keys, 'h1', 2);
  const h2 = new SimHost(kv, keys, 'h2');
  await h1.networks.join(spec);
  await h2.networks.join(spec);
  await putHolder(kv, spec.ident, '10.13.164.50', 'h1', 1); // an earlier epoch's key, no local lease: stale to sync

  const pass = new EtcdAddressSync(gate.kv, keys, { hostId: 'h1', epoch: () => 2 }, h1.view([spec]), h1.addresses, h1.networks, captureLogger().logger).run();
  await gate.reached; // sync decided to delete it by its revision, the delete not applied yet
  t.equal(await h1.request(spec, A('10.13.164.50')), A('10.13.164.50'), 'docker run --ip on h1 gets it (this host holds the key)');
  gate.release();
  t.equal((await pass).released, 0, 'sync\'s delete by the old revision fails');
  t.equal(await holderOf(kv, spec.ident, '10.13.164.50'), 'h1', 'the key is still h1\'s');
  await t.rejects(h2.request(spec, A('10.13.164.50')), { name: 'ConflictError', message: 'address 10.13.164.50 is already in use by a container on host h1' });
});

t.test('etcd unreachable: a pass fails with "etcd unreachable: …"', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const h1 = new SimHost(kv, keys, 'h1');
  kv.setUnreachable(true);
  await t.rejects(syncOf(kv, h1, []).run(), { name: 'ClusterUnreachableError' });
});
