// Host liveness and the host view (cluster/hosts.ts) on the in-memory etcd (MemoryKv): the epoch
// goes up at each start, a lost lease or a deleted alive key is put again, the view sees hosts
// come, depart and return, and a watch reset (compaction, etcd away) lists again without missing
// a departure that happened meanwhile; a periodic listing corrects an event the watch missed, and
// departed hosts are forgotten after a long bound.
import t from 'tap';
import { pino } from 'pino';
import { EtcdHostView, EtcdLiveness, type HostFields } from '../../src/cluster/hosts.js';
import { Keys } from '../../src/cluster/keys.js';
import { ClusterUnreachableError, type Kv, type KvWatch, type WatchHandler } from '../../src/cluster/kv.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import type { HostRecord } from '../../src/cluster/types.js';

const log = pino({ level: 'silent' });
const keys = new Keys('/test');
const FAST = { initialMs: 20, maxMs: 100 };
const fields = (id: string, underlayIp = `10.99.9.${id.slice(1)}`): () => HostFields =>
  () => ({ id, underlayIp, encapsulations: ['vxlan', 'gre'], mtu: 1500, versions: { ovsvlan: 'test' } });

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const aliveRecord = async (kv: MemoryKv, id: string): Promise<(HostRecord & { lease: string | undefined }) | undefined> => {
  const pair = await kv.get(keys.alive(id));
  return pair ? { ...(JSON.parse(pair.value) as HostRecord), lease: pair.lease } : undefined;
};

const infoRecord = async (kv: MemoryKv, id: string): Promise<HostRecord | undefined> => {
  const pair = await kv.get(keys.info(id));
  return pair ? (JSON.parse(pair.value) as HostRecord) : undefined;
};

t.test('liveness: the epoch goes up at each start; alive (leased) and info (not) hold the record', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = new EtcdLiveness(kv, keys, fields('h2'), log);
  t.equal(a.epoch, undefined, 'no epoch before start');
  await a.start();
  t.equal(a.epoch, 1);
  const first = await aliveRecord(kv, 'h2');
  t.match(first, { id: 'h2', underlayIp: '10.99.9.2', epoch: 1, encapsulations: ['vxlan', 'gre'], tunnels: {}, conflicts: [] });
  t.ok(first?.lease, 'alive is on a lease');
  t.equal((await kv.get(keys.info('h2')))?.lease, undefined, 'info is not');
  await a.stop();
  t.ok(await kv.get(keys.alive('h2')), 'stop does not revoke: the key stays until its TTL');
  const b = new EtcdLiveness(kv, keys, fields('h2'), log);
  await b.start();
  t.equal(b.epoch, 2, 'a restart bumps the epoch');
  t.equal((await aliveRecord(kv, 'h2'))?.epoch, 2);
  t.equal((await kv.get(keys.epoch('h2')))?.value, '2');
  await b.stop();
});

t.test('liveness: update puts changed tunnels and conflicts into info (never alive, which every mesh watches), a burst in one put, the same values not at all', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = new EtcdLiveness(kv, keys, fields('h2'), log, { updateEveryMs: 300 });
  t.teardown(() => a.stop());
  await a.start();
  const version = async (): Promise<number> => (await kv.get(keys.info('h2')))?.version ?? 0;
  const aliveVersion = (await kv.get(keys.alive('h2')))?.version;
  const before = await version();
  for (let i = 1; i <= 5; i++) a.update({ tunnels: { 'vxlan.5001': i } });
  a.update({ conflicts: [{ ident: 'vlan.10', address: '10.0.0.5', heldBy: 'h3' }] });
  await until('the update put', async () => (await infoRecord(kv, 'h2'))?.tunnels['vxlan.5001'] === 5);
  t.same((await infoRecord(kv, 'h2'))?.conflicts, [{ ident: 'vlan.10', address: '10.0.0.5', heldBy: 'h3' }]);
  t.same((await aliveRecord(kv, 'h2'))?.tunnels, {}, 'alive keeps the record as put at start');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(await version(), before + 1, 'six updates, one put');

  a.update({ tunnels: { 'vxlan.5001': 5 } });
  a.update({ conflicts: [{ ident: 'vlan.10', address: '10.0.0.5', heldBy: 'h3' }] });
  await new Promise((r) => setTimeout(r, 400));
  t.equal(await version(), before + 1, 'the same values again: no put (a mesh run after every host\'s put must not put in turn)');

  a.update({ tunnels: { 'vxlan.5001': 6 } });
  await until('the next change put', async () => (await infoRecord(kv, 'h2'))?.tunnels['vxlan.5001'] === 6);
  const put = Date.now();
  a.update({ tunnels: { 'vxlan.5001': 7 } });
  await until('and the one after', async () => (await infoRecord(kv, 'h2'))?.tunnels['vxlan.5001'] === 7);
  t.ok(Date.now() - put >= 200, 'at most one put per updateEveryMs');
  t.equal((await kv.get(keys.alive('h2')))?.version, aliveVersion, 'alive was not put again by any update');
});

t.test('liveness: a lost lease is granted again and the record put again, also after etcd was away', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = new EtcdLiveness(kv, keys, fields('h2'), log, { backoff: FAST });
  t.teardown(() => a.stop());
  await a.start();
  const first = (await aliveRecord(kv, 'h2'))?.lease ?? '';
  kv.expireLease(first);
  t.equal(await kv.get(keys.alive('h2')), undefined, 'the key went with its lease');
  await until('alive put again', async () => (await kv.get(keys.alive('h2'))) !== undefined);
  const second = (await aliveRecord(kv, 'h2'))?.lease ?? '';
  t.not(second, first, 'on a new lease');
  t.equal((await aliveRecord(kv, 'h2'))?.epoch, 1, 'same epoch: the daemon did not restart');

  kv.setUnreachable(true);
  kv.expireLease(second);
  await new Promise((r) => setTimeout(r, 150)); // a few failed tries
  t.equal(await kv.get(keys.alive('h2')).catch((e: unknown) => e instanceof ClusterUnreachableError), true, 'unreachable meanwhile');
  kv.setUnreachable(false);
  await until('alive put again once etcd is back', async () => (await kv.get(keys.alive('h2'))) !== undefined);
});

t.test('liveness: an alive key deleted by someone while the lease is fine is put again', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const a = new EtcdLiveness(kv, keys, fields('h2'), log, { checkEveryMs: 30 });
  t.teardown(() => a.stop());
  await a.start();
  const lease = (await aliveRecord(kv, 'h2'))?.lease;
  await kv.txn([], [{ op: 'delete', key: keys.alive('h2') }]);
  await until('alive put again', async () => (await kv.get(keys.alive('h2'))) !== undefined);
  t.equal((await aliveRecord(kv, 'h2'))?.lease, lease, 'on the same lease');
});

t.test('liveness: start rejects with ClusterUnreachableError when etcd does not answer', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  kv.setUnreachable(true);
  const a = new EtcdLiveness(kv, keys, fields('h2'), log);
  await t.rejects(a.start(), ClusterUnreachableError);
  kv.setUnreachable(false);
  await a.start();
  t.equal(a.epoch, 1, 'a later start works');
  await a.stop();
});

t.test('view: hosts come, depart (with when) and return; changes are coalesced', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const h2 = new EtcdLiveness(kv, keys, fields('h2'), log);
  await h2.start();
  const view = new EtcdHostView(kv, keys, log, { debounceMs: 30 });
  t.teardown(() => view.close());
  let changes = 0;
  view.onChange(() => changes++);
  await view.start();
  t.same([...view.alive().keys()], ['h2'], 'listed at start');
  t.equal(view.alive().get('h2')?.underlayIp, '10.99.9.2');

  changes = 0;
  const others = ['h3', 'h4', 'h5'].map((id) => new EtcdLiveness(kv, keys, fields(id), log));
  await Promise.all(others.map((h) => h.start()));
  await until('three joins seen', () => view.alive().size === 4);
  await new Promise((r) => setTimeout(r, 80));
  t.equal(changes, 1, 'three joins, one change callback');

  const lease = (await aliveRecord(kv, 'h3'))?.lease ?? '';
  await others[0]?.stop(); // released: nobody re-puts when it goes
  const before = Date.now();
  kv.expireLease(lease);
  await until('h3 departed', () => view.departed().has('h3'));
  t.notOk(view.alive().has('h3'));
  t.equal(view.departed().get('h3')?.record.underlayIp, '10.99.9.3', 'its last record is kept');
  t.ok((view.departed().get('h3')?.since ?? 0) >= before, 'with when it went');

  const back = new EtcdLiveness(kv, keys, fields('h3', '10.99.9.33'), log);
  await back.start();
  await until('h3 back', () => view.alive().has('h3'));
  t.notOk(view.departed().has('h3'), 'no longer departed');
  t.equal(view.alive().get('h3')?.underlayIp, '10.99.9.33', 'with its new record');
  for (const h of [h2, back, ...others.slice(1)]) await h.stop();
});

t.test('view: after a compaction or etcd away, it lists again and sees what went meanwhile', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const hosts = ['h2', 'h3', 'h4'].map((id) => new EtcdLiveness(kv, keys, fields(id), log));
  await Promise.all(hosts.map((h) => h.start()));
  const view = new EtcdHostView(kv, keys, log, { debounceMs: 10, backoff: FAST });
  t.teardown(() => view.close());
  await view.start();
  t.equal(view.alive().size, 3);

  // etcd away: the watch resets; meanwhile h3's key goes (deleted behind the view's back once back)
  kv.setUnreachable(true);
  await new Promise((r) => setTimeout(r, 60));
  kv.setUnreachable(false);
  await hosts[1]?.stop();
  const lease = (await aliveRecord(kv, 'h3'))?.lease ?? '';
  kv.compact(kv.revision); // nothing older than now can be replayed
  kv.expireLease(lease);
  await until('h3 departed after the re-list', () => view.departed().has('h3'));
  t.same([...view.alive().keys()].sort(), ['h2', 'h4']);

  // a compaction under a live watch: a reset, a re-list, and the departure of h4 meanwhile is not missed
  await hosts[2]?.stop();
  const lease4 = (await aliveRecord(kv, 'h4'))?.lease ?? '';
  kv.setUnreachable(true); // the watch is dropped...
  kv.setUnreachable(false);
  kv.expireLease(lease4); // ...and h4 goes before the view lists again
  kv.compact(kv.revision);
  await until('h4 departed', () => view.departed().has('h4'));
  t.same([...view.alive().keys()], ['h2']);
  await hosts[0]?.stop();
});

/** A Kv whose watches drop delete events while `swallow` is set, as a watch that missed an event without a reset would. */
class SwallowingKv implements Kv {
  swallow = false;
  readonly #kv: Kv;
  constructor(kv: Kv) {
    this.#kv = kv;
  }
  get(key: string): ReturnType<Kv['get']> {
    return this.#kv.get(key);
  }
  range(prefix: string): ReturnType<Kv['range']> {
    return this.#kv.range(prefix);
  }
  txn(...args: Parameters<Kv['txn']>): ReturnType<Kv['txn']> {
    return this.#kv.txn(...args);
  }
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Promise<KvWatch> {
    return this.#kv.watch(prefix, fromRevision, {
      onEvents: (events, revision) => {
        const kept = events.filter((e) => !(this.swallow && e.type === 'delete'));
        if (kept.length > 0) handler.onEvents(kept, revision);
      },
      onReset: handler.onReset,
    });
  }
  grantLease(ttlSeconds: number): ReturnType<Kv['grantLease']> {
    return this.#kv.grantLease(ttlSeconds);
  }
  close(): Promise<void> {
    return this.#kv.close();
  }
}

t.test('view: a departure the watch missed (no reset) is seen at the next periodic listing', async (t) => {
  const mem = new MemoryKv();
  t.teardown(() => mem.close());
  const kv = new SwallowingKv(mem);
  const hosts = ['h2', 'h3'].map((id) => new EtcdLiveness(mem, keys, fields(id), log));
  await Promise.all(hosts.map((h) => h.start()));
  const view = new EtcdHostView(kv, keys, log, { debounceMs: 10, relistEveryMs: 300 });
  t.teardown(() => view.close());
  await view.start();
  t.equal(view.alive().size, 2);
  kv.swallow = true;
  await hosts[1]?.stop();
  const before = Date.now();
  mem.expireLease((await aliveRecord(mem, 'h3'))?.lease ?? '');
  await new Promise((r) => setTimeout(r, 50));
  t.ok(view.alive().has('h3'), 'the delete event was swallowed: the watch alone still shows h3');
  await until('h3 departed at the periodic listing', () => view.departed().has('h3'));
  t.ok((view.departed().get('h3')?.since ?? 0) >= before);
  t.same([...view.alive().keys()], ['h2']);
  kv.swallow = false;
  const back = new EtcdLiveness(mem, keys, fields('h3'), log);
  await back.start();
  await until('h3 back through the new watch', () => view.alive().has('h3'));
  for (const h of [hosts[0], back]) await h?.stop();
});

t.test('view: departed hosts are forgotten once gone longer than forgetDepartedMs', async (t) => {
  const kv = new MemoryKv();
  t.teardown(() => kv.close());
  const h2 = new EtcdLiveness(kv, keys, fields('h2'), log);
  await h2.start();
  const view = new EtcdHostView(kv, keys, log, { debounceMs: 10, relistEveryMs: 100, forgetDepartedMs: 200 });
  t.teardown(() => view.close());
  await view.start();
  await h2.stop();
  kv.expireLease((await aliveRecord(kv, 'h2'))?.lease ?? '');
  await until('h2 departed', () => view.departed().has('h2'));
  await until('h2 forgotten', () => !view.departed().has('h2'));
  t.equal(view.alive().size, 0);
});
