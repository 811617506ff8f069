// The driver's records in memory, loaded from the store at start and saved
// after every change. Handlers never touch the maps directly.
import { NotFoundError } from '../errors.js';
import type { EndpointRecord, NetworkRecord, State } from '../store/records.js';
import type { Store } from '../store/store.js';
import { shortId } from './names.js';

export class DriverState {
  readonly #store: Store;
  #state: State | undefined;
  #saving: Promise<void> = Promise.resolve();

  constructor(store: Store) {
    this.#store = store;
  }

  async load(): Promise<void> {
    this.#state = await this.#store.load();
  }

  get #s(): State {
    if (!this.#state) throw new Error('DriverState used before load()');
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

  async putNetwork(n: NetworkRecord): Promise<void> {
    this.#s.networks[n.id] = n;
    await this.#persist();
  }

  async removeNetwork(id: string): Promise<void> {
    delete this.#s.networks[id];
    await this.#persist();
  }

  async putEndpoint(e: EndpointRecord): Promise<void> {
    this.#s.endpoints[e.id] = e;
    await this.#persist();
  }

  async removeEndpoint(id: string): Promise<void> {
    delete this.#s.endpoints[id];
    await this.#persist();
  }

  /** Saves are chained so that the file always ends with the latest snapshot. */
  #persist(): Promise<void> {
    const snapshot = structuredClone(this.#s);
    const next = this.#saving.then(() => this.#store.save(snapshot));
    this.#saving = next.catch(() => undefined);
    return next;
  }
}
