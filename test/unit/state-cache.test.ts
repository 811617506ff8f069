// StateCache against a fake store whose saves the test settles one by one:
// a change is seen only once its save is durable, a failed save takes its
// whole batch with it (every caller gets the error) and no later save carries
// it, group commit shares one save, and stored records cannot be edited in place.
import t from 'tap';
import { StoreError } from '../../src/errors.js';
import { changedPool, emptyState, type EndpointRecord, type PoolRecord, type State } from '../../src/store/records.js';
import { StateCache } from '../../src/store/state.js';
import type { Store } from '../../src/store/store.js';

/** A store whose every save waits until the test calls finish(ok). */
class FakeStore implements Store {
  readonly saved: State[] = [];
  readonly #waiting: Array<{ state: State; resolve: () => void; reject: (e: Error) => void }> = [];
  #initial: State;
  constructor(initial: State = emptyState()) {
    this.#initial = initial;
  }
  async load(): Promise<State> {
    return structuredClone(this.#initial);
  }
  save(state: State): Promise<void> {
    return new Promise((resolve, reject) => this.#waiting.push({ state: structuredClone(state), resolve, reject }));
  }
  get inFlight(): number {
    return this.#waiting.length;
  }
  /** Waits until a save has started (the cache starts it a few microtasks after the first change of a batch). */
  async started(): Promise<void> {
    for (let i = 0; i < 20 && this.#waiting.length === 0; i++) await new Promise((r) => setImmediate(r));
    if (this.#waiting.length === 0) throw new Error('no save started');
  }
  /** Settles the oldest save: written (ok) or failed, as a full disk fails it. */
  async finish(ok: boolean): Promise<void> {
    await this.started();
    const s = this.#waiting.shift();
    if (!s) throw new Error('no save in flight');
    if (ok) {
      this.saved.push(s.state);
      s.resolve();
    } else {
      s.reject(new StoreError('cannot save state.json', Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })));
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

t.test('a change is seen only once its save is durable', async (t) => {
  const store = new FakeStore();
  const state = new StateCache(store);
  await state.load();
  const put = outcome(state.putEndpoint(ep('a')));
  t.equal(state.endpoint('a'), undefined, 'not seen while its save runs');
  await store.finish(true);
  t.equal(await put, 'ok');
  t.equal(state.endpoint('a')?.hostIf, 'ovha', 'seen once saved');
  t.same(Object.keys(store.saved[0]!.endpoints), ['a']);
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
  t.same(Object.keys(store.saved[1]!.endpoints).sort(), ['b1', 'keep'], 'batch 1 saved alone');

  await store.started();
  const third = outcome(state.putEndpoint(ep('c1'))); // joins batch 3, behind the failing one
  await store.finish(false);
  t.same(await Promise.all(second), ['cannot save state.json', 'cannot save state.json', 'cannot save state.json'], 'every caller of the failed batch gets the error');
  t.equal(state.endpoint('ghost'), undefined, 'no ghost endpoint');
  t.equal(state.pool('ghost-pool'), undefined, 'no ghost pool');
  t.ok(state.endpoint('keep'), 'a failed remove leaves the record');

  await store.finish(true);
  t.equal(await third, 'ok');
  const last = store.saved[2]!;
  t.same(Object.keys(last.endpoints).sort(), ['b1', 'c1', 'keep'], 'the next save holds its own change and nothing of the failed batch');
  t.same(Object.keys(last.pools), ['p0']);
  t.same(state.endpoints().map((e) => e.id).sort(), ['b1', 'c1', 'keep']);
});

t.test('stored records are frozen: a pool changes only through a copy that is put', async (t) => {
  const store = new FakeStore();
  const state = new StateCache(store);
  await state.load();
  await Promise.all([state.putPool(pool('p')), store.finish(true)]);
  const stored = state.pool('p')!;
  t.throws(() => { stored.leases['10.0.0.5'] = { kind: 'pending', at: 1 }; }, TypeError, 'adding a lease in place throws');
  t.throws(() => { stored.networkId = 'n1'; }, TypeError, 'setting a field in place throws');

  const put = outcome(state.putPool(changedPool(stored, { '10.0.0.5': { kind: 'pending', at: 2 } }, { lastAllocated: '10.0.0.5' })));
  await store.finish(false);
  t.equal(await put, 'cannot save state.json');
  t.same(state.pool('p')?.leases, {}, 'the failed lease is not there');
  t.equal(state.pool('p')?.lastAllocated, undefined, 'nor its lastAllocated');

  const again = outcome(state.putPool(changedPool(state.pool('p')!, { '10.0.0.5': { kind: 'pending', at: 3 } })));
  await store.finish(true);
  t.equal(await again, 'ok');
  const after = state.pool('p')!;
  t.equal(after.leases['10.0.0.5']?.at, 3);
  const released = outcome(state.putPool(changedPool(after, { '10.0.0.5': undefined })));
  await store.finish(true);
  t.equal(await released, 'ok');
  t.same(state.pool('p')?.leases, {}, 'a lease mapped to undefined is released');
  t.same(after.leases['10.0.0.5']?.at, 3, 'the copy left the earlier record as it was');
});

t.test('records loaded from the store are frozen too, and nothing changes before load()', async (t) => {
  const initial = emptyState();
  initial.pools['p'] = pool('p');
  const state = new StateCache(new FakeStore(initial));
  t.throws(() => state.putEndpoint(ep('x')), /before load/);
  await state.load();
  t.throws(() => { state.pool('p')!.leases['10.0.0.9'] = { kind: 'aux', at: 1 }; }, TypeError);
});
