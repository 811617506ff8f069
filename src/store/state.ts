// ovsvlan's records in memory: loaded from the Store before the socket
// accepts a request, and saved after every change. Modules never touch the
// maps directly, and every change is saved before the call that made it answers.
import { NotFoundError } from '../errors.js';
import { shortId } from '../names.js';
import type { EndpointRecord, NetworkRecord, PoolRecord, State } from './records.js';
import type { Store } from './store.js';

export class StateCache {
  readonly #store: Store;
  #state: State | undefined;
  #saving: Promise<void> = Promise.resolve();
  #next: Promise<void> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  async load(): Promise<void> {
    this.#state = await this.#store.load();
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

  putNetwork(n: NetworkRecord): Promise<void> {
    this.#s.networks[n.id] = n;
    return this.#persist();
  }

  removeNetwork(id: string): Promise<void> {
    delete this.#s.networks[id];
    return this.#persist();
  }

  putEndpoint(e: EndpointRecord): Promise<void> {
    this.#s.endpoints[e.id] = e;
    return this.#persist();
  }

  removeEndpoint(id: string): Promise<void> {
    delete this.#s.endpoints[id];
    return this.#persist();
  }

  /** Saves a pool after the caller changed it (pools are edited in place under the pool's lock). */
  putPool(p: PoolRecord): Promise<void> {
    this.#s.pools[p.id] = p;
    return this.#persist();
  }

  removePool(id: string): Promise<void> {
    delete this.#s.pools[id];
    return this.#persist();
  }

  /**
   * Group commit: one save runs at a time; changes made while it runs share
   * the next save, which snapshots the state when it starts. Every caller's
   * promise settles only once a save that includes its change is durable.
   */
  #persist(): Promise<void> {
    if (this.#next) return this.#next;
    const next = this.#saving.then(async () => {
      this.#next = undefined;
      await this.#store.save(structuredClone(this.#s));
    });
    this.#next = next;
    this.#saving = next.catch(() => undefined);
    return next;
  }
}
