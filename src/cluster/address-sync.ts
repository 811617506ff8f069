// Address sync: this host's addresses and memberships against etcd, both
// ways, level-triggered (at start, on reconnect, periodically). A local lease
// without its key is written again by version 0 (a reclaim freed it, or a
// crash came between the two saves), or reported as a conflict when another
// host holds it now: never taken back. A key of this host that no local lease
// explains is deleted by its revision (a release made while etcd was away).
// The local view is read only after etcd's, in the same turn as the in-flight
// checks, so an allocation is either in the view or still in flight.
import type { Logger } from 'pino';
import { ConflictError, InvalidOptionError } from '../errors.js';
import { listAddresses, parseHolder, type EtcdAddresses, type HeldAddress, type HostSelf } from './addresses.js';
import { definitionOf, type EtcdNetworks } from './definitions.js';
import type { Keys } from './keys.js';
import { ClusterUnreachableError, type Kv, type KvPair } from './kv.js';
import type { AddressConflict, AddressSync, LocalView, NetworkDefinition, NetworkIdent, SyncReport } from './types.js';

/** A key of this epoch is released only once older than this: its allocation may be between its two saves. */
const YOUNG_KEY_MS = 5_000;
/** A network joined this recently is not left for want of a local record: its CreateNetwork may be half-way. */
const JOINING_MS = 30_000;
/** The holder shown for an address key whose value is not a holder record. */
const MALFORMED = '(unknown: malformed key)';

export class EtcdAddressSync implements AddressSync {
  readonly #kv: Kv;
  readonly #keys: Keys;
  readonly #self: HostSelf;
  readonly #local: LocalView;
  readonly #addresses: EtcdAddresses;
  readonly #networks: EtcdNetworks;
  readonly #log: Logger;
  #pass: Promise<SyncReport> | undefined;

  constructor(kv: Kv, keys: Keys, self: HostSelf, local: LocalView, addresses: EtcdAddresses, networks: EtcdNetworks, log: Logger) {
    this.#kv = kv;
    this.#keys = keys;
    this.#self = self;
    this.#local = local;
    this.#addresses = addresses;
    this.#networks = networks;
    this.#log = log;
  }

  /** One pass (see AddressSync.run); a call while a pass runs gets that pass's report. */
  run(): Promise<SyncReport> {
    this.#pass ??= this.#run().finally(() => {
      this.#pass = undefined;
    });
    return this.#pass;
  }

  async #run(): Promise<SyncReport> {
    const epoch = this.#self.epoch();
    if (epoch === undefined) throw new ClusterUnreachableError('not connected yet: cluster mode is starting (this host\'s epoch is not read yet)');
    const me = this.#self.hostId;
    const [addresses, definitions, fence] = await Promise.all([
      this.#kv.range(this.#keys.addresses()), this.#kv.range(this.#keys.networks()), this.#kv.get(this.#keys.fence(me)),
    ]);
    await this.#memberships(definitions.pairs);

    const keyed = new Map(listAddresses(this.#keys, addresses.pairs).map((a) => [`${a.ident}/${a.address}`, a]));
    let restored = 0;
    const conflicts: AddressConflict[] = [];
    for (const [ident, set] of this.#local.held()) {
      for (const address of set) {
        const found = keyed.get(`${ident}/${address}`);
        const heldBy = found ? found.holder?.host ?? MALFORMED : await this.#restore(ident, address, epoch);
        if (heldBy === undefined) restored++;
        else if (heldBy !== me) conflicts.push({ ident, address, heldBy });
      }
    }
    // the local view again, read in the same turn as the in-flight checks: an allocation is in one or the other
    const stale = this.#unexplained(keyed, this.#local.held(), epoch);
    let released = 0;
    for (const a of stale) {
      const r = await this.#kv.txn([{ key: a.pair.key, target: 'modRevision', op: '==', value: a.pair.modRevision }], [{ op: 'delete', key: a.pair.key }]);
      if (r.succeeded) released++;
    }
    if (fence) await this.#clearFence(fence);
    if (restored + released + conflicts.length > 0 || fence) {
      this.#log.info({ restored, released, conflicts: conflicts.length, fenceCleared: fence !== undefined }, 'cluster addresses synced');
    }
    return { restored, released, conflicts };
  }

  /**
   * Keys of this host that no local lease explains and no allocation has in
   * flight: of an earlier epoch, at once; of this one, once older than
   * YOUNG_KEY_MS. Decided in one turn with the local view it is given.
   */
  #unexplained(keyed: ReadonlyMap<string, HeldAddress>, held: ReadonlyMap<NetworkIdent, ReadonlySet<string>>, epoch: number): HeldAddress[] {
    const now = Date.now();
    return [...keyed.values()].filter((a) => a.holder?.host === this.#self.hostId
      && !held.get(a.ident)?.has(a.address)
      && !this.#addresses.inFlight(a.ident, a.address) // a replay may be answering with it right now
      && (a.holder.epoch !== epoch || now - a.holder.at > YOUNG_KEY_MS));
  }

  /** A local lease without its key: put it again by version 0. Returns undefined when it did, else the holder found instead. */
  async #restore(ident: NetworkIdent, address: string, epoch: number): Promise<string | undefined> {
    const key = this.#keys.address(ident, address);
    for (let attempt = 0; attempt < 3; attempt++) {
      const value = JSON.stringify({ host: this.#self.hostId, epoch, at: Date.now() });
      if ((await this.#kv.txn([{ key, target: 'version', op: '==', value: 0 }], [{ op: 'put', key, value }])).succeeded) {
        this.#log.debug({ network: ident, address }, 'cluster address restored');
        return undefined;
      }
      const pair = await this.#kv.get(key);
      if (pair) return parseHolder(pair.value)?.host ?? MALFORMED;
      // released in between: put it again
    }
    return '(unknown: the key kept changing)';
  }

  /** This host in the definition of each of its shared networks (written again when missing), and out of the others. */
  async #memberships(pairs: readonly KvPair[]): Promise<void> {
    const me = this.#self.hostId;
    const defs = new Map<NetworkIdent, NetworkDefinition>();
    for (const pair of pairs) {
      const def = definitionOf(pair);
      if (def) defs.set(def.ident, def);
    }
    const mine = this.#local.networks();
    for (const [ident, spec] of mine) {
      if (defs.get(ident)?.hosts.includes(me)) continue;
      try {
        await this.#networks.join(spec);
      } catch (err) {
        if (!(err instanceof InvalidOptionError || err instanceof ConflictError)) throw err;
        this.#log.warn({ network: ident, err: err.message }, 'this host\'s network disagrees with its cluster definition; its addresses are still synced');
      }
    }
    for (const def of defs.values()) {
      if (def.hosts.includes(me) && !mine.has(def.ident) && !this.#networks.joinedWithin(def.ident, JOINING_MS)) await this.#networks.leave(def.ident);
    }
  }

  /** The fence of a reclaim goes once every lease of this host was restored or reported (compare on its revision: a newer reclaim stays). */
  async #clearFence(fence: KvPair): Promise<void> {
    await this.#kv.txn([{ key: fence.key, target: 'modRevision', op: '==', value: fence.modRevision }], [{ op: 'delete', key: fence.key }]);
    this.#log.info({ host: this.#self.hostId }, 'this host\'s fence cleared: its addresses are restored, new ones may be taken again');
  }
}
