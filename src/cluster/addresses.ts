// Cluster-wide addresses of shared networks: one etcd key per address
// (`ip/<ident>/<address>`, value AddressHolder), never on a lease, taken by
// `Txn(version(ip)==0 AND version(fence/<me>)==0 → put)`, released by a
// compare on the key's revision by its holder only. Automatic picks start
// where this host left off, or at an offset derived from its id, so hosts
// rarely race for one address; a lost race reads the network's keys once and
// picks at random among the next free ones. The whole call ends within 4.5 s.
import { createHash } from 'node:crypto';
import { ConflictError } from '../errors.js';
import { format, parseAddress, reserved } from '../ipam/address.js';
import { TimeSlice } from '../timeslice.js';
import type { Keys } from './keys.js';
import { ClusterUnreachableError, type Compare, type Kv, type KvPair } from './kv.js';
import type { AddressHolder, AllocateRequest, Allocation, ClusterAddresses, ClusterNetworks, NetworkIdent } from './types.js';

/** An allocation answers within this (Docker gives a plugin call ~30 s; issue 11 asks for 5 s). */
export const ALLOCATE_BUDGET_MS = 4_500;
/** Picks tried after the network's keys were read, before the call gives up. */
const PICK_ATTEMPTS = 8;
/** A pick after a lost race is random among this many free addresses, so racing hosts rarely collide again. */
const CHOICES = 16;
/** The definition's gateways and aux addresses never change while a host uses the network: read at most this often. */
const RESERVED_CACHE_MS = 5_000;

/** Who this host is to the allocator: its id and its epoch (undefined until the liveness record was read). */
export interface HostSelf {
  readonly hostId: string;
  epoch(): number | undefined;
}

export class EtcdAddresses implements ClusterAddresses {
  readonly #kv: Kv;
  readonly #keys: Keys;
  readonly #self: HostSelf;
  readonly #networks: ClusterNetworks;
  /** `<ident>/<address>` put (or about to be) and not settled yet: address sync leaves them alone */
  readonly #inFlight = new Set<string>();
  /** `<ident> <subnet>` → the addresses never handed out there, read from the definition at `at` */
  readonly #reserved = new Map<string, { readonly at: number; readonly values: ReadonlySet<bigint> }>();

  constructor(kv: Kv, keys: Keys, self: HostSelf, networks: ClusterNetworks) {
    this.#kv = kv;
    this.#keys = keys;
    this.#self = self;
    this.#networks = networks;
  }

  /** Whether an allocation of this address is between its put and its settle(); asked by address sync before it deletes a key. */
  inFlight(ident: NetworkIdent, address: string): boolean {
    return this.#inFlight.has(`${ident}/${address}`);
  }

  /** RequestAddress on a shared network's pool: see ClusterAddresses.allocate. */
  async allocate(req: AllocateRequest): Promise<Allocation> {
    const epoch = this.#self.epoch();
    if (epoch === undefined) throw new ClusterUnreachableError('not connected yet: cluster mode is starting (this host\'s epoch is not read yet); try again in a moment');
    const budget = new Budget(Math.max(0, Math.min(ALLOCATE_BUDGET_MS, (req.deadline ?? Infinity) - Date.now())));
    const taken = new Set(await budget.run(this.#reservedOf(req)));
    const attempt = new Attempt({ kv: this.#kv, keys: this.#keys, hostId: this.#self.hostId, epoch, ident: req.ident, inFlight: this.#inFlight }, budget);
    return req.wanted === undefined ? this.#pick(req, taken, attempt) : this.#takeWanted(req, req.wanted, taken, attempt);
  }

  /** ReleaseAddress: deletes the key when this host holds it. Never rejects (address sync deletes it later). */
  async release(ident: NetworkIdent, address: string): Promise<void> {
    const key = this.#keys.address(ident, address);
    try {
      const pair = await this.#kv.get(key);
      if (!pair || parseHolder(pair.value)?.host !== this.#self.hostId) return;
      await this.#kv.txn([{ key, target: 'modRevision', op: '==', value: pair.modRevision }], [{ op: 'delete', key }]);
    } catch {
      // etcd away: the key stays this host's, and address sync deletes it when no local lease explains it
    }
  }

  async #takeWanted(req: AllocateRequest, wanted: bigint, reservedHere: ReadonlySet<bigint>, attempt: Attempt): Promise<Allocation> {
    const address = format(req.prefix.family, wanted);
    if (reservedHere.has(wanted)) throw new ConflictError(`address ${address} is reserved in cluster network ${req.ident} (its gateway or an --aux-address)`);
    for (let i = 0; i < 3; i++) {
      if (await attempt.take(address)) return attempt.allocation(wanted, address);
      const [pair, fence] = await attempt.budget.run(Promise.all([this.#kv.get(this.#keys.address(req.ident, address)), this.#kv.get(this.#keys.fence(this.#self.hostId))]));
      if (fence) throw this.#fenced();
      if (!pair) continue; // released in between: try again
      const holder = parseHolder(pair.value);
      // a replay, a crash between the two saves, or a retried take that had applied: put it again by its revision, so that
      // a delete by the old revision in flight (address sync judging it stale) fails instead of freeing an address in use
      if (holder?.host === this.#self.hostId) {
        if (await attempt.retake(address, pair)) return attempt.allocation(wanted, address);
        continue; // changed in between (released, or taken by another host): look again
      }
      throw new ConflictError(`address ${address} is already in use by a container on host ${holder?.host ?? `(unknown: the key ${pair.key} is malformed)`}`);
    }
    throw new ConflictError(`address ${address} of cluster network ${req.ident} was taken and released again under each of 3 attempts; try again`);
  }

  async #pick(req: AllocateRequest, taken: Set<bigint>, attempt: Attempt): Promise<Allocation> {
    const start = startOf(req, this.#self.hostId);
    const full = (): ConflictError => new ConflictError(`no free address left in ${req.range.cidr} of cluster network ${req.ident}: every address is held by a host of the cluster`);
    const [first] = await freeCandidates(req, start, taken, 1);
    if (first === undefined) throw full();
    const firstAddress = format(req.prefix.family, first);
    if (await attempt.take(firstAddress)) return attempt.allocation(first, firstAddress);
    const [list, fence] = await attempt.budget.run(Promise.all([this.#kv.range(this.#keys.addresses(req.ident)), this.#kv.get(this.#keys.fence(this.#self.hostId))]));
    if (fence) throw this.#fenced();
    const listed = listAddresses(this.#keys, list.pairs);
    const mine = listed.find((a) => a.address === firstAddress && attempt.wrote(a.pair));
    if (mine) return attempt.allocation(first, firstAddress); // the take had applied, its answer was lost (a retried call)
    for (const held of listed) {
      const a = parseAddress(held.address);
      if (a?.family === req.prefix.family) taken.add(a.value);
    }
    taken.add(first);
    for (let i = 0; i < PICK_ATTEMPTS; i++) {
      const choices = await freeCandidates(req, start, taken, CHOICES);
      const value = choices[Math.floor(Math.random() * choices.length)];
      if (value === undefined) throw full();
      const address = format(req.prefix.family, value);
      if (await attempt.take(address)) return attempt.allocation(value, address);
      taken.add(value);
    }
    if (await attempt.budget.run(this.#kv.get(this.#keys.fence(this.#self.hostId)))) throw this.#fenced();
    throw new ConflictError(`no address of ${req.range.cidr} could be taken in ${PICK_ATTEMPTS + 1} attempts: other hosts took each one first; try again`);
  }

  /** The definition's gateways and aux addresses, and the subnet's network (and broadcast) address. */
  async #reservedOf(req: AllocateRequest): Promise<ReadonlySet<bigint>> {
    const cacheKey = `${req.ident} ${req.prefix.cidr}`; // a dual-stack network has a pool of each family
    const cached = this.#reserved.get(cacheKey);
    if (cached && Date.now() - cached.at < RESERVED_CACHE_MS) return cached.values;
    const def = await this.#networks.get(req.ident);
    const values = new Set(reserved(req.prefix));
    for (const text of [...(def?.gateways ?? []), ...(def?.aux ?? [])]) {
      const a = parseAddress(text);
      if (a?.family === req.prefix.family) values.add(a.value);
    }
    this.#reserved.set(cacheKey, { at: Date.now(), values });
    return values;
  }

  #fenced(): ConflictError {
    const me = this.#self.hostId;
    return new ConflictError(`this host (${me}) was fenced by "ovsvlan ipam reclaim --host ${me}" while it was away: `
      + 'new addresses are refused until its daemon has restored its own (address sync)');
  }
}

/** What one allocation's puts need to know. */
interface AttemptContext {
  readonly kv: Kv;
  readonly keys: Keys;
  readonly hostId: string;
  readonly epoch: number;
  readonly ident: NetworkIdent;
  /** the allocator's in-flight set */
  readonly inFlight: Set<string>;
}

/** One allocation's puts: each marks the address in flight first, and unmarks it when the put failed. */
class Attempt {
  readonly budget: Budget;
  readonly #c: AttemptContext;
  /** The values this attempt's puts wrote: each carries its own time, so one is recognised among the network's keys. */
  readonly #written = new Set<string>();
  constructor(c: AttemptContext, budget: Budget) {
    this.#c = c;
    this.budget = budget;
  }

  /** Puts the address's key when it has none and this host is not fenced; true when it did. */
  take(address: string): Promise<boolean> {
    return this.#put(address, { key: this.#c.keys.address(this.#c.ident, address), target: 'version', op: '==', value: 0 });
  }

  /** Puts again a key this host holds (new epoch and time) when it is still at the revision read and this host is not fenced; true when it did. */
  retake(address: string, pair: KvPair): Promise<boolean> {
    return this.#put(address, { key: pair.key, target: 'modRevision', op: '==', value: pair.modRevision });
  }

  /** Whether `pair` holds a value one of this attempt's puts wrote (a put whose answer was lost may still have applied). */
  wrote(pair: KvPair): boolean {
    return this.#written.has(pair.value);
  }

  async #put(address: string, compare: Compare): Promise<boolean> {
    const { kv, keys, hostId, epoch, ident, inFlight } = this.#c;
    const key = keys.address(ident, address);
    const holder: AddressHolder = { host: hostId, epoch, at: Date.now() };
    const value = JSON.stringify(holder);
    this.#written.add(value);
    const flight = `${ident}/${address}`;
    inFlight.add(flight);
    try {
      const r = await this.budget.run(kv.txn(
        [compare, { key: keys.fence(hostId), target: 'version', op: '==', value: 0 }],
        [{ op: 'put', key, value }],
      ));
      if (!r.succeeded) inFlight.delete(flight);
      return r.succeeded;
    } catch (err) {
      inFlight.delete(flight);
      throw err;
    }
  }

  /** The answer to the caller: the address stays in flight until it calls settle(). */
  allocation(value: bigint, address: string): Allocation {
    const flight = `${this.#c.ident}/${address}`;
    this.#c.inFlight.add(flight);
    return { value, settle: () => this.#c.inFlight.delete(flight) };
  }
}

/** What is left of a call's time: every Kv call of it races the rest. */
class Budget {
  readonly #end: number;
  readonly #total: number;
  constructor(ms: number) {
    this.#total = ms;
    this.#end = Date.now() + ms;
  }

  /** `p`, or a ClusterUnreachableError once the budget is spent (an abandoned put is left to address sync). */
  async run<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ClusterUnreachableError(`no answer to an address allocation within ${this.#total / 1000} s`)), Math.max(0, this.#end - Date.now()));
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Where automatic picks start: after this host's last one, else at an offset in the range from a hash of the host id. */
function startOf(req: AllocateRequest, hostId: string): bigint {
  const { first, last } = req.range;
  if (req.last !== undefined && req.last >= first && req.last < last) return req.last + 1n;
  const hash = BigInt(`0x${createHash('sha256').update(hostId).digest('hex').slice(0, 16)}`);
  return first + (hash % (last - first + 1n));
}

/** Up to `n` addresses of the range from `start` on (wrapping) that neither `taken` nor the local pool holds. */
async function freeCandidates(req: AllocateRequest, start: bigint, taken: ReadonlySet<bigint>, n: number): Promise<bigint[]> {
  const { first, last } = req.range;
  const out: bigint[] = [];
  const slice = new TimeSlice();
  let v = start;
  for (let step = 0n; step <= last - first && out.length < n; step++) {
    if (slice.due) await slice.pause();
    if (!taken.has(v) && !req.isTakenLocally(v)) out.push(v);
    v = v === last ? first : v + 1n;
  }
  return out;
}

/** An address key's value, or undefined when it is not a holder record. */
export function parseHolder(text: string): AddressHolder | undefined {
  try {
    const v = JSON.parse(text) as Partial<AddressHolder> | null;
    return v && typeof v.host === 'string' && typeof v.epoch === 'number' && typeof v.at === 'number' ? { host: v.host, epoch: v.epoch, at: v.at } : undefined;
  } catch {
    return undefined;
  }
}

/** An address key as read: where it is, who holds it (undefined: malformed), and the pair for compares on its revision. */
export interface HeldAddress {
  readonly ident: NetworkIdent;
  readonly address: string;
  readonly holder: AddressHolder | undefined;
  readonly pair: KvPair;
}

/** The address keys among `pairs` (a range of `keys.addresses()`), parsed; read by allocation, address sync, reclaim and status. */
export function listAddresses(keys: Keys, pairs: readonly KvPair[]): HeldAddress[] {
  const out: HeldAddress[] = [];
  for (const pair of pairs) {
    const where = keys.parseAddress(pair.key);
    if (where) out.push({ ...where, holder: parseHolder(pair.value), pair });
  }
  return out;
}
