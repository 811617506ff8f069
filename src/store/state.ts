// ovsvlan's records in memory: loaded from the Store before the socket
// accepts a request, and saved after every change.
//
// Never ahead of the disk: a change is not applied to what the readers see
// until the save that holds it is durable. Until then it waits in a batch; a
// save that fails drops its batch, so nothing has to be undone and no later
// save can carry it, and every caller of that batch gets the error. Records
// handed out are frozen: a module changes one by copying it, changing the
// copy and putting it (an edit in place throws), so a failed put leaves
// nothing behind in memory either.
import { NotFoundError } from '../errors.js';
import { shortId } from '../names.js';
import type { EndpointRecord, NetworkRecord, PoolRecord, State } from './records.js';
import type { Store } from './store.js';

type Kind = 'networks' | 'endpoints' | 'pools';
type RecordOf<K extends Kind> = State[K][string];

/** One put (a record) or remove (undefined) of one record. */
interface Change {
  kind: Kind;
  id: string;
  record: RecordOf<Kind> | undefined;
}

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

  constructor(store: Store) {
    this.#store = store;
  }

  async load(): Promise<void> {
    this.#state = freezeState(await this.#store.load());
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

  pool(id: string): PoolRecord | undefined {
    return this.#s.pools[id];
  }

  pools(): PoolRecord[] {
    return Object.values(this.#s.pools);
  }

  /** Resolves once the record is saved; only then do readers see it. Rejects when the save failed: nothing changed. */
  putNetwork(n: NetworkRecord): Promise<void> {
    return this.#change('networks', n.id, n);
  }

  removeNetwork(id: string): Promise<void> {
    return this.#change('networks', id, undefined);
  }

  putEndpoint(e: EndpointRecord): Promise<void> {
    return this.#change('endpoints', e.id, e);
  }

  removeEndpoint(id: string): Promise<void> {
    return this.#change('endpoints', id, undefined);
  }

  /** Puts a changed copy of a pool (`{ ...p, leases: { ...p.leases, … } }`), read under the pool's lock. */
  putPool(p: PoolRecord): Promise<void> {
    return this.#change('pools', p.id, p);
  }

  removePool(id: string): Promise<void> {
    return this.#change('pools', id, undefined);
  }

  /**
   * Group commit: one save runs at a time; changes made while it runs join
   * the next batch, whose save starts from the state the previous save left
   * (with that batch, or without it when it failed). The record is frozen
   * now: the caller gave it away.
   */
  #change(kind: Kind, id: string, record: RecordOf<Kind> | undefined): Promise<void> {
    if (!this.#state) throw new Error('StateCache changed before load()');
    if (record) deepFreeze(record);
    let batch = this.#open;
    if (!batch) {
      const b: Batch = { changes: [], done: Promise.resolve() };
      b.done = this.#saving.then(() => this.#commit(b));
      this.#saving = b.done.catch(() => undefined);
      this.#open = batch = b;
    }
    batch.changes.push({ kind, id, record });
    return batch.done;
  }

  async #commit(batch: Batch): Promise<void> {
    if (this.#open === batch) this.#open = undefined; // later changes wait for the next save
    const base = this.#s;
    const next: State = { version: base.version, networks: { ...base.networks }, endpoints: { ...base.endpoints }, pools: { ...base.pools } };
    for (const c of batch.changes) {
      const map = next[c.kind] as Record<string, RecordOf<Kind>>;
      if (c.record) map[c.id] = c.record;
      else delete map[c.id];
    }
    await this.#store.save(next);
    this.#state = next;
  }
}

function freezeState(s: State): State {
  for (const kind of ['networks', 'endpoints', 'pools'] as const) Object.values(s[kind]).forEach(deepFreeze);
  return s;
}

/** Freezes a record and what it holds (leases, arrays); skips what is frozen already, such as leases copied from a stored pool. */
function deepFreeze(o: object): void {
  if (Object.isFrozen(o)) return;
  Object.freeze(o);
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v as object);
}
