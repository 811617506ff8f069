// StateCache against a fake store whose appends the test settles one by one:
// a change is seen only once its save is durable, a failed save takes its
// whole batch with it (every caller gets the error) and no later save carries
// it, group commit shares one save, a lease change saves only that lease and
// is applied in place, and stored records cannot be edited in place.
import t from 'tap';
import { StoreError } from '../../src/errors.js';
import type { Change } from '../../src/store/changes.js';
import { emptyState, type EndpointRecord, type PoolRecord, type State } from '../../src/store/records.js';
import { StateCache } from '../../src/store/state.js';
import type { Store } from '../../src/store/store.js';

/** A store whose every append waits until the test calls finish(ok). */
class FakeStore implements Store {
  /** The batches saved, in order. */
  readonly saved: Change[][] = [];
  /** The seq of the state each maybeCompact() saw. */
  readonly compactions: number[] = [];
  readonly #waiting: Array<{ changes: Change[]; resolve: (seq: number) => void; reject: (e: Error) => void }> = [];
  #initial: State;
  constructor(initial: State = emptyState()) {
    this.#initial = initial;
  }
  async load(): Promise<State> {
    return structuredClone(this.#initial);
  }
  append(changes: readonly Change[]): Promise<number> {
    return new Promise((resolve, reject) => this.#waiting.push({ changes: structuredClone([...changes]), resolve, reject }));
  }
  maybeCompact(state: State): void {
    this.compactions.push(state.seq);
  }
  get inFlight(): number {
    return this.#waiting.length;
  }
  /** Waits until an append has started (the cache starts it a few microtasks after the first change of a batch). */
  async started(): Promise<void> {
    for (let i = 0; i < 20 && this.#waiting.length === 0; i++) await new Promise((r) => setImmediate(r));
    if (this.#waiting.length === 0) throw new Error('no save started');
  }
  /** Settles the oldest append: written (ok) or failed, as a full disk fails it. */
  async finish(ok: boolean): Promise<void> {
    await this.started();
    const s = this.#waiting.shift();
    if (!s) throw new Error('no save in flight');
    if (ok) {
      this.saved.push(s.changes);
      s.resolve(this.saved.length);
    } else {
      s.reject(new StoreError('cannot save state.journal', Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })));
    }
    await new Promise((r) => setImmediate(r));
  }
}

const ep = (id: string, networkId = 'n1'): EndpointRecord =>
  ({ id, networkId, hostIf: `ovh${id}`, containerIf: `ovc${id}`, addressV4: undefined, addressV6: undefined, createdAt: 1 });
const pool = (id: string): PoolRecord => ({ id, addressSpace: 'ovsvlan-local', v6: false, pool: '10.0.0.0/24', subPool: undefined,
  networkId: undefined, auto: false, lastAllocated: undefined, createdAt: 1, leases: {} });
/** Resolves to 'ok' or the error's message, never rejects (so a caller's outcome can be asserted after the fact). */
const outcome = (p: Promise<void>): Promise<string> => p.then(() => 'ok', (e: Error) => e.message);
/** What a batch did, short: `put endpoints a`, `remove endpoints keep`, `leases p 10.0.0.5`. */
const said = (batch: Change[] | undefined): string[] => (batch ?? []).map((c) =>
  c.op === 'put' ? `put ${c.kind} ${c.record.id}` : c.op === 'remove' ? `remove ${c.kind} ${c.id}` : `leases ${c.pool} ${Object.keys(c.leases).join(' ')}`);

t.test('a change is seen only once its save is durable', async (t) => {
  const store = new FakeStore();
  const state = new StateCache(store);
  await state.load();
  const put = outcome(state.putEndpoint(ep('a')));
  t.equal(state.endpoint('a'), undefined, 'not seen while its save runs');
  await store.finish(true);
  t.equal(await put, 'ok');
  t.equal(state.endpoint('a')?.hostIf, 'ovha', 'seen once saved');
  t.same(said(store.saved[0]), ['put endpoints a']);
  t.same(store.compactions, [1], 'the store may compact after the batch, with the state that holds it');
});

t.test('a failed save: every caller of the batch gets the error, nothing is seen, and the next save does not carry it', async (t) => {
  const store = new FakeStore();
  const state = new StateCache(store);
  await state.load();
  await Promise.all([state.putEndpoint(ep('keep')), state.putPool(pool('p0')), store.finish(true)]);

  // batch 1 is saving; batch 2 (three concurrent changes) waits behind it and will fail
  const first = outcome(state.putEndpoint(ep('b1')));
  await store.started();
  const second = [outcome(state.putEndpoint(ep('ghost'))), outcome(state.putPool(pool('ghost-pool'))), outcome(state.removeEndpoint('keep'))];
  t.equal(store.inFlight, 1, 'one save at a time: batch 2 waits');
  await store.finish(true);
  t.equal(await first, 'ok');
  t.equal(store.inFlight, 1, 'batch 2: its three changes share one save');
  t.same(said(store.saved[1]), ['put endpoints b1'], 'batch 1 saved alone');

  await store.started();
  const third = outcome(state.putEndpoint(ep('c1'))); // joins batch 3, behind the failing one
  await store.finish(false);
  t.same(await Promise.all(second), Array(3).fill('cannot save state.journal'), 'every caller of the failed batch gets the error');
  t.equal(state.endpoint('ghost'), undefined, 'no ghost endpoint');
  t.equal(state.pool('ghost-pool'), undefined, 'no ghost pool');
  t.ok(state.endpoint('keep'), 'a failed remove leaves the record');

  await store.finish(true);
  t.equal(await third, 'ok');
  t.same(said(store.saved[2]), ['put endpoints c1'], 'the next save holds its own change and nothing of the failed batch');
  t.same(state.endpoints().map((e) => e.id).sort(), ['b1', 'c1', 'keep']);
  t.same(state.pools().map((p) => p.id), ['p0']);
});

t.test('a lease change saves that lease only and is applied in place, once durable', async (t) => {
  const store = new FakeStore();
  const state = new StateCache(store);
  await state.load();
  const big = pool('p');
  big.leases = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`10.0.${i >> 8}.${i & 255}`, { kind: 'pending' as const, at: 1 }]));
  await Promise.all([state.putPool(big), store.finish(true)]);
  const stored = state.pool('p')!;
  t.throws(() => { (stored as { networkId?: string }).networkId = 'n1'; }, TypeError, 'a stored pool is frozen');
  t.throws(() => { (stored.leases['10.0.0.1'] as { at: number }).at = 5; }, TypeError, 'its leases are frozen');

  const failed = outcome(state.changeLeases('p', { '10.0.9.5': { kind: 'pending', at: 2 } }, { lastAllocated: '10.0.9.5' }));
  await store.finish(false);
  t.equal(await failed, 'cannot save state.journal');
  t.equal(state.pool('p')?.leases['10.0.9.5'], undefined, 'the failed lease is not there');
  t.equal(state.pool('p')?.lastAllocated, undefined, 'nor its lastAllocated');

  const leased = outcome(state.changeLeases('p', { '10.0.9.5': { kind: 'pending', at: 3 }, '10.0.0.1': undefined }, { lastAllocated: '10.0.9.5' }));
  t.equal(state.pool('p')?.leases['10.0.9.5'], undefined, 'not seen while its save runs');
  await store.finish(true);
  t.equal(await leased, 'ok');
  t.same(said(store.saved[1]), ['leases p 10.0.9.5 10.0.0.1'], 'the journal gets the two leases, not the pool\'s 1,000');
  const after = state.pool('p')!;
  t.equal(after.leases['10.0.9.5']?.at, 3, 'the new lease is seen');
  t.equal(after.leases['10.0.0.1'], undefined, 'a lease mapped to undefined is released');
  t.equal(after.lastAllocated, '10.0.9.5', 'and the field is set');
  t.equal(after.leases, stored.leases, 'the lease map was changed in place, not copied');
  t.ok(Object.isFrozen(after) && Object.isFrozen(after.leases['10.0.9.5']), 'the new pool record and its new lease are frozen');
  t.equal(Object.keys(after.leases).length, 1000);

  await Promise.all([state.removePool('p'), state.changeLeases('p', { '10.0.9.6': { kind: 'aux', at: 4 } }), store.finish(true)]);
  t.equal(state.pool('p'), undefined, 'a lease change of a pool removed before it in the batch is left alone');
});

t.test('records loaded from the store are frozen too, and nothing changes before load()', async (t) => {
  const initial = emptyState();
  initial.pools['p'] = { ...pool('p'), leases: { '10.0.0.9': { kind: 'aux', at: 1 } } };
  initial.endpoints['e'] = ep('e');
  const state = new StateCache(new FakeStore(initial));
  t.throws(() => state.putEndpoint(ep('x')), /before load/);
  await state.load();
  t.throws(() => { (state.endpoint('e') as { hostIf: string }).hostIf = 'x'; }, TypeError);
  t.throws(() => { (state.pool('p')!.leases['10.0.0.9'] as { kind: string }).kind = 'pending'; }, TypeError);
});

/** Never called: `npm run typecheck` fails if a reader may add a lease (the map is changed in place by the store, so it is not frozen). */
export function leaseMapIsReadonly(p: PoolRecord): void {
  // @ts-expect-error: the lease map is Readonly to its readers
  p.leases['10.0.0.8'] = { kind: 'aux', at: 1 };
}

t.test('endpointsByLink follows loads, puts, renames, removals and failed saves', async (t) => {
  const initial = emptyState();
  initial.endpoints['old'] = ep('old');
  const store = new FakeStore(initial);
  const state = new StateCache(store);
  await state.load();
  const ids = (name: string): string[] => state.endpointsByLink(name).map((e) => e.id).sort();
  t.same(ids('ovhold'), ['old'], 'loaded');
  t.same(ids('ovcold'), ['old'], 'by its container end too');
  const put = state.putEndpoint(ep('a'));
  t.same(ids('ovha'), [], 'not before its save is durable');
  await store.finish(true);
  await put;
  t.same(ids('ovha'), ['a']);
  const renamed = state.putEndpoint({ ...ep('a'), hostIf: 'ovhspare', containerIf: 'ovcspare' });
  await store.finish(true);
  await renamed;
  t.same(ids('ovha'), [], 'its old names forgotten');
  t.same(ids('ovhspare'), ['a']);
  const failed = outcome(state.putEndpoint(ep('b')));
  await store.finish(false);
  await failed;
  t.same(ids('ovhb'), [], 'a failed save indexes nothing');
  const removed = state.removeEndpoint('old');
  await store.finish(true);
  await removed;
  t.same(ids('ovhold'), []);
});
