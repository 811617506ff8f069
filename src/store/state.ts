// ovsvlan's records in memory: loaded from the Store before the socket
// accepts a request, and saved with every change.
//
// Never ahead of the disk: a change is not applied to what the readers see
// until the journal line that holds it is durable. Until then it waits in a
// batch; a save that fails drops its batch, so nothing has to be undone and no
// later save can carry it, and every caller of that batch gets the error.
// A change costs what it holds, not what the state holds: a pool's leases are
// changed one by one (changeLeases), in place once durable. Records handed out
// are frozen (a lease map is Readonly by its type: the store changes it), so a
// module changes a record by putting a new one.
import { NotFoundError } from '../errors.js';
import { shortId } from '../names.js';
import { applyChanges, deepFreeze, freezeRecords, leaseChange, type Change } from './changes.js';
import type { EndpointRecord, LeaseRecord, NetworkRecord, PoolFields, PoolRecord, State } from './records.js';
import type { Store } from './store.js';

/** Changes that will share one save (group commit: one fsync for all of them). */
interface Batch {
  readonly changes: Change[];
  /** Settles once the save is durable (or has failed) for every change of the batch. */
  done: Promise<void>;
}

export class StateCache {
  readonly #store: Store;
  /** What the last successful save holds (or the load read): the only state readers see. */
  #state: State | undefined;
  /** The batch still taking changes: its save has not started. */
  #open: Batch | undefined;
  /** The last batch's save, failures swallowed: the next one starts after it. */
  #saving: Promise<void> = Promise.resolve();
  /** Veth name (host or container end) → IDs of the endpoints whose records name it: endpointsByLink in O(1). */
  readonly #byLink = new Map<string, Set<string>>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Called once at daemon start, before the socket serves: the saved state, its records frozen. */
  async load(): Promise<void> {
    this.#state = freezeRecords(await this.#store.load());
    this.#byLink.clear();
    for (const e of Object.values(this.#state.endpoints)) this.#index(e, true);
  }

  /** True once load() has read the saved state. */
  get loaded(): boolean {
    return this.#state !== undefined;
  }

  get #s(): State {
    if (!this.#state) throw new Error('StateCache used before load()');
    return this.#state;
  }

  network(id: string): NetworkRecord | undefined {
    return this.#s.networks[id];
  }

  requireNetwork(id: string): NetworkRecord {
    const n = this.network(id);
    if (!n) throw new NotFoundError(`network ${shortId(id)} is not known to ovsvlan`);
    return n;
  }

  networks(): NetworkRecord[] {
    return Object.values(this.#s.networks);
  }

  endpoint(id: string): EndpointRecord | undefined {
    return this.#s.endpoints[id];
  }

  endpoints(networkId?: string): EndpointRecord[] {
    const all = Object.values(this.#s.endpoints);
    return networkId === undefined ? all : all.filter((e) => e.networkId === networkId);
  }

  /** The endpoints whose records name the link (host or container end): none, one, or more after a collision of names. */
  endpointsByLink(name: string): EndpointRecord[] {
    return [...(this.#byLink.get(name) ?? [])].flatMap((id) => this.#s.endpoints[id] ?? []);
  }

  pool(id: string): PoolRecord | undefined {
    return this.#s.pools[id];
  }

  pools(): PoolRecord[] {
    return Object.values(this.#s.pools);
  }

  /** Resolves once the record is saved; only then do readers see it. Rejects when the save failed: nothing changed. */
  putNetwork(n: NetworkRecord): Promise<void> {
    return this.#change({ op: 'put', kind: 'networks', record: deepFreeze(n) });
  }

  removeNetwork(id: string): Promise<void> {
    return this.#change({ op: 'remove', kind: 'networks', id });
  }

  putEndpoint(e: EndpointRecord): Promise<void> {
    return this.#change({ op: 'put', kind: 'endpoints', record: deepFreeze(e) });
  }

  removeEndpoint(id: string): Promise<void> {
    return this.#change({ op: 'remove', kind: 'endpoints', id });
  }

  /** Puts a new pool (RequestPool); its leases change through changeLeases. Saving it costs what its leases hold. */
  putPool(p: PoolRecord): Promise<void> {
    return this.#change({ op: 'put', kind: 'pools', record: deepFreeze(p) });
  }

  removePool(id: string): Promise<void> {
    return this.#change({ op: 'remove', kind: 'pools', id });
  }

  /**
   * Changes leases of pool `poolId` (an address mapped to undefined loses its
   * lease) and sets `fields` of it, as one journal line that holds only these.
   * Called by the IPAM under the pool's lock. A pool that is gone by then is left alone.
   */
  changeLeases(poolId: string, leases: Readonly<Record<string, LeaseRecord | undefined>>, fields?: PoolFields): Promise<void> {
    return this.#change(leaseChange(poolId, leases, fields));
  }

  /**
   * Group commit: one save runs at a time; changes made while it runs join
   * the next batch, whose save starts from the state the previous save left
   * (with that batch, or without it when it failed).
   */
  #change(change: Change): Promise<void> {
    if (!this.#state) throw new Error('StateCache changed before load()');
    let batch = this.#open;
    if (!batch) {
      const b: Batch = { changes: [], done: Promise.resolve() };
      b.done = this.#saving.then(() => this.#commit(b));
      this.#saving = b.done.catch(() => undefined);
      this.#open = batch = b;
    }
    batch.changes.push(change);
    return batch.done;
  }

  async #commit(batch: Batch): Promise<void> {
    if (this.#open === batch) this.#open = undefined; // later changes wait for the next save
    const seq = await this.#store.append(batch.changes);
    const touched = new Set(batch.changes.flatMap((c) => c.op === 'put' && c.kind === 'endpoints' ? [c.record.id] : c.op === 'remove' && c.kind === 'endpoints' ? [c.id] : []));
    for (const id of touched) this.#index(this.#s.endpoints[id], false);
    applyChanges(this.#s, batch.changes);
    for (const id of touched) this.#index(this.#s.endpoints[id], true);
    this.#s.seq = seq;
    this.#store.maybeCompact(this.#s);
  }

  /** Adds the endpoint's link names to the by-link index, or takes them out. */
  #index(e: EndpointRecord | undefined, add: boolean): void {
    if (!e) return;
    for (const name of [e.hostIf, e.containerIf]) {
      const ids = this.#byLink.get(name) ?? new Set<string>();
      if (add) ids.add(e.id);
      else ids.delete(e.id);
      if (ids.size > 0) this.#byLink.set(name, ids);
      else this.#byLink.delete(name);
    }
  }
}
