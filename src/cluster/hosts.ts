// The cluster's hosts in etcd (issue 11): this host's liveness record
// (EtcdLiveness) and the view of every host's (EtcdHostView), which the tunnel
// mesh follows (mesh.ts). Key layout: keys.ts (hosts/<id>/alive on a lease,
// hosts/<id>/info unleased, hosts/<id>/epoch).
//
// What the daemon does with them:
//   const liveness = new EtcdLiveness(kv, keys, () => ({ id, underlayIp, encapsulations, mtu, versions }), log);
//   await liveness.start();          // rejects with ClusterUnreachableError: retry it in the background
//   liveness.update({ tunnels });    // after each mesh run (Mesh.onCounts), conflicts after address sync
//   await liveness.stop();           // at shutdown: the key outlives it by the TTL (a restart is no departure)
//   const view = new EtcdHostView(kv, keys, log);
//   await view.start();              // rejects with ClusterUnreachableError: retry it in the background
//   await view.close();
// Nothing here ever throws out of a background path: a lost lease, a dropped
// watch or an unreachable etcd is retried with backoff (1 s → 10 s) forever.
import type { Logger } from 'pino';
import { OvsvlanError } from '../errors.js';
import type { Keys } from './keys.js';
import { ClusterUnreachableError, type Compare, type Kv, type KvEvent, type KvLease, type KvPair, type KvWatch } from './kv.js';
import { HOST_TTL_SECONDS, type AddressConflict, type HostRecord, type HostView, type Liveness, type NetworkIdent } from './types.js';

/** What the daemon knows of itself; the rest of the record (epoch, times, tunnels, conflicts) is EtcdLiveness's. */
export type HostFields = Omit<HostRecord, 'epoch' | 'startedAt' | 'updatedAt' | 'tunnels' | 'conflicts'>;

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** Retries while etcd is unreachable: 1 s, doubling, at most 10 s. */
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 10_000 };

/** How many times the epoch's compare-and-swap is tried (only this host writes it: a race is a second daemon of the same id). */
const EPOCH_ATTEMPTS = 10;

/**
 * This host's leased liveness record. start() bumps the epoch, grants a lease
 * of HOST_TTL_SECONDS and puts `alive` (on the lease) and `info` (unleased) in
 * one transaction. When the lease is lost (expired, revoked: etcd can revoke
 * every lease when its leader stalls, etcd#15247) a new one is granted and the
 * record put again, retried with backoff while etcd is unreachable. Every
 * `checkEveryMs` (default HOST_TTL_SECONDS / 3, a keepalive cycle) the `alive`
 * key is read back: gone or on another lease while ours seems fine (deleted by
 * someone, or a lease loss the client missed, etcd3#110), it is put again.
 */
export class EtcdLiveness implements Liveness {
  readonly #kv: Kv;
  readonly #keys: Keys;
  readonly #fields: () => HostFields;
  readonly #log: Logger;
  readonly #checkEveryMs: number;
  readonly #backoff: Backoff;
  #epoch: number | undefined;
  #startedAt = 0;
  #tunnels: Readonly<Record<NetworkIdent, number>> = {};
  #conflicts: readonly AddressConflict[] = [];
  #lease: KvLease | undefined;
  /** a put is wanted: the record changed, or the lease or key was lost */
  #dirty = false;
  #writing: Promise<void> | undefined;
  #check: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(kv: Kv, keys: Keys, record: () => HostFields, log: Logger, opts: { checkEveryMs?: number; backoff?: BackoffOptions } = {}) {
    this.#kv = kv;
    this.#keys = keys;
    this.#fields = record;
    this.#log = log;
    this.#checkEveryMs = opts.checkEveryMs ?? (HOST_TTL_SECONDS * 1000) / 3;
    this.#backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
  }

  get epoch(): number | undefined {
    return this.#epoch;
  }

  /**
   * At daemon start: epoch + 1 (compare-and-swap), a new lease, the record put.
   * Rejects with ClusterUnreachableError when etcd does not answer: the daemon
   * serves meanwhile and calls start() again in the background until it
   * resolves (the data plane never waits for etcd).
   */
  async start(): Promise<void> {
    const id = this.#fields().id;
    this.#epoch = await this.#bumpEpoch(id);
    this.#startedAt = Date.now();
    this.#stopped = false;
    try {
      await this.#put();
    } catch (err) {
      this.#stopped = true;
      this.#lease?.release();
      this.#lease = undefined;
      throw err;
    }
    this.#log.info({ host: id, epoch: this.#epoch, lease: this.#lease?.id }, 'host record put');
    clearInterval(this.#check);
    this.#check = setInterval(() => void this.#checkAlive(), this.#checkEveryMs).unref();
  }

  /** Called after a mesh run or an address sync: the record's tunnels or conflicts change, put again soon (bursts coalesce). */
  update(fields: Partial<Pick<HostRecord, 'tunnels' | 'conflicts'>>): void {
    if (fields.tunnels) this.#tunnels = { ...fields.tunnels };
    if (fields.conflicts) this.#conflicts = [...fields.conflicts];
    if (!this.#stopped) this.#schedule();
  }

  /** At daemon stop: no more keepalives nor puts; the keys stay until the TTL runs out (never revoked). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#check);
    this.#backoff.cancel();
    await this.#writing;
    this.#lease?.release();
    this.#lease = undefined;
  }

  async #bumpEpoch(id: string): Promise<number> {
    const key = this.#keys.epoch(id);
    for (let attempt = 0; attempt < EPOCH_ATTEMPTS; attempt++) {
      const pair = await this.#kv.get(key);
      const previous = pair === undefined ? 0 : Number(pair.value) || 0;
      const unchanged: Compare = pair === undefined
        ? { key, target: 'version', op: '==', value: 0 }
        : { key, target: 'modRevision', op: '==', value: pair.modRevision };
      if ((await this.#kv.txn([unchanged], [{ op: 'put', key, value: String(previous + 1) }])).succeeded) return previous + 1;
    }
    throw new OvsvlanError('OVSVLAN_ERR_CLUSTER', `the epoch of host ${id} changed under each of ${EPOCH_ATTEMPTS} attempts: is another daemon running with this host id?`);
  }

  /** Puts `alive` (on the lease, granted first when there is none) and `info` in one transaction. */
  async #put(): Promise<void> {
    const lease = this.#lease ?? (await this.#grant());
    const id = this.#fields().id;
    const value = JSON.stringify(this.#record());
    try {
      await this.#kv.txn([], [{ op: 'put', key: this.#keys.alive(id), value, lease: lease.id }, { op: 'put', key: this.#keys.info(id), value }]);
    } catch (err) {
      // refused with etcd reachable: the lease is gone though no loss was seen; the next try grants a new one
      if (!(err instanceof ClusterUnreachableError) && this.#lease === lease) this.#drop(lease);
      throw err;
    }
  }

  async #grant(): Promise<KvLease> {
    const lease = await this.#kv.grantLease(HOST_TTL_SECONDS);
    lease.onLost((reason) => {
      if (this.#lease !== lease || this.#stopped) return;
      this.#log.warn({ lease: lease.id, reason }, 'host lease lost: granting a new one and putting the record again');
      this.#drop(lease);
      this.#schedule();
    });
    this.#lease = lease;
    return lease;
  }

  #drop(lease: KvLease): void {
    lease.release();
    this.#lease = undefined;
  }

  #record(): HostRecord {
    return { ...this.#fields(), epoch: this.#epoch ?? 0, startedAt: this.#startedAt, updatedAt: Date.now(), tunnels: this.#tunnels, conflicts: this.#conflicts };
  }

  /** A put is wanted: one loop runs the puts one at a time, retrying with backoff until one succeeds or stop(). */
  #schedule(): void {
    this.#dirty = true;
    this.#writing ??= this.#writeLoop().finally(() => (this.#writing = undefined));
  }

  async #writeLoop(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // the updates of one burst make one put
    while (this.#dirty && !this.#stopped) {
      this.#dirty = false;
      try {
        await this.#put();
        this.#backoff.reset();
      } catch (err) {
        this.#dirty = true;
        this.#log.warn({ err, retryInMs: this.#backoff.nextMs }, 'host record not put; retrying');
        await this.#backoff.wait();
      }
    }
  }

  /** Every keepalive cycle: our `alive` key must be there, on our lease. */
  async #checkAlive(): Promise<void> {
    const lease = this.#lease;
    if (this.#stopped || this.#writing !== undefined || lease === undefined) return;
    let pair: KvPair | undefined;
    try {
      pair = await this.#kv.get(this.#keys.alive(this.#fields().id));
    } catch {
      return; // unreachable: the lease's own keepalives tell whether it survives
    }
    if (pair?.lease === lease.id || this.#lease !== lease || this.#stopped) return;
    this.#log.warn({ lease: lease.id, found: pair?.lease ?? 'no key' }, 'host alive key gone while the lease is kept: putting it again');
    this.#schedule();
  }
}

/**
 * Every host's liveness as the watch sees it: a range read of hosts/, then a
 * watch from the next revision. An `alive` key that is deleted (lease expired
 * or revoked) moves its host to departed with `since` = now; a put brings it
 * back. When the watch resets (compaction, a dropped stream, etcd unreachable)
 * the view lists again, with backoff while etcd does not answer, and hosts
 * missing from the new list depart then. Departed hosts are kept until they
 * return (the mesh ignores them once its grace has passed): a few hundred
 * bytes per host ever seen. onChange callbacks run at most once per
 * `debounceMs` (default 150), after the first change of a burst.
 */
export class EtcdHostView implements HostView {
  readonly #kv: Kv;
  readonly #keys: Keys;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #backoff: Backoff;
  #alive = new Map<string, HostRecord>();
  readonly #departed = new Map<string, { readonly record: HostRecord; readonly since: number }>();
  readonly #callbacks: Array<() => void> = [];
  #watch: KvWatch | undefined;
  /** bumped at each listing and at close: events of an older watch are ignored */
  #generation = 0;
  #debounce: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(kv: Kv, keys: Keys, log: Logger, opts: { debounceMs?: number; backoff?: BackoffOptions } = {}) {
    this.#kv = kv;
    this.#keys = keys;
    this.#log = log;
    this.#debounceMs = opts.debounceMs ?? 150;
    this.#backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
  }

  /** At daemon start: the first listing and the watch. Rejects with ClusterUnreachableError (the daemon retries it in the background). */
  start(): Promise<void> {
    return this.#list();
  }

  alive(): ReadonlyMap<string, HostRecord> {
    return this.#alive;
  }

  departed(): ReadonlyMap<string, { readonly record: HostRecord; readonly since: number }> {
    return this.#departed;
  }

  /** `cb` runs after each change (coalesced); the mesh subscribes once at its start. */
  onChange(cb: () => void): void {
    this.#callbacks.push(cb);
  }

  /** At daemon stop: the watch is closed, retries and pending callbacks end. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#generation++;
    clearTimeout(this.#debounce);
    this.#backoff.cancel();
    await this.#watch?.close();
    this.#watch = undefined;
  }

  /** Lists hosts/, replaces the alive map (departures and returns from the difference), then watches from the next revision. */
  async #list(): Promise<void> {
    const { pairs, revision } = await this.#kv.range(this.#keys.hosts());
    const listed = new Map<string, HostRecord>();
    for (const pair of pairs) {
      const record = this.#parse(pair.key, pair.value);
      if (record) listed.set(record.id, record);
    }
    const now = Date.now();
    let changed = false;
    for (const [id, record] of this.#alive) {
      if (!listed.has(id)) changed = this.#depart(id, record, now);
    }
    for (const [id, record] of listed) {
      if (JSON.stringify(this.#alive.get(id)) !== JSON.stringify(record)) changed = true;
      this.#departed.delete(id);
    }
    this.#alive = listed;
    if (changed) this.#changed();
    const generation = ++this.#generation;
    const watch = await this.#kv.watch(this.#keys.hosts(), revision + 1, {
      onEvents: (events) => {
        if (generation === this.#generation) this.#apply(events);
      },
      onReset: (reason) => {
        if (generation === this.#generation) void this.#relist(reason);
      },
    });
    if (generation !== this.#generation) await watch.close(); // closed (or listed again) meanwhile
    else this.#watch = watch;
  }

  #apply(events: readonly KvEvent[]): void {
    let changed = false;
    for (const e of events) {
      if (e.type === 'put') {
        const record = this.#parse(e.key, e.value);
        if (!record) continue;
        this.#alive.set(record.id, record);
        this.#departed.delete(record.id);
        changed = true;
      } else {
        const id = this.#keys.parseHost(e.key);
        const record = id?.kind === 'alive' ? this.#alive.get(id.host) : undefined;
        if (id && record) changed = this.#depart(id.host, record, Date.now());
      }
    }
    if (changed) this.#changed();
  }

  #depart(id: string, record: HostRecord, since: number): true {
    this.#alive.delete(id);
    this.#departed.set(id, { record, since });
    this.#log.info({ host: id, underlayIp: record.underlayIp }, 'cluster host departed');
    return true;
  }

  /** The watch ended: list again (and watch from there), with backoff while etcd does not answer. */
  async #relist(reason: string): Promise<void> {
    this.#watch = undefined;
    this.#log.warn({ reason }, 'hosts watch reset: listing the hosts again');
    while (!this.#closed) {
      try {
        await this.#list();
        this.#backoff.reset();
        return;
      } catch (err) {
        this.#log.warn({ err, retryInMs: this.#backoff.nextMs }, 'hosts not listed; retrying');
        await this.#backoff.wait();
      }
    }
  }

  /** The record of an `alive` key, or undefined for other keys and values that are no host record (logged). */
  #parse(key: string, value: string): HostRecord | undefined {
    const id = this.#keys.parseHost(key);
    if (id?.kind !== 'alive') return undefined;
    const record = parseHostRecord(value);
    if (!record) this.#log.warn({ key }, 'not a host record: ignored');
    return record === undefined ? undefined : { ...record, id: id.host };
  }

  #changed(): void {
    if (this.#debounce !== undefined || this.#closed) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      for (const cb of this.#callbacks) {
        try {
          cb();
        } catch (err) {
          this.#log.error({ err }, 'hosts change callback failed');
        }
      }
    }, this.#debounceMs);
  }
}

/** A HostRecord from its JSON, or undefined when it is not one (another version's, a hand-made key). */
export function parseHostRecord(value: string): HostRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<HostRecord>;
  if (typeof r.id !== 'string' || typeof r.underlayIp !== 'string' || !Array.isArray(r.encapsulations)) return undefined;
  return { versions: {}, mtu: 0, epoch: 0, startedAt: 0, updatedAt: 0, tunnels: {}, conflicts: [], ...r } as HostRecord;
}

/** Doubling delays from initialMs to maxMs, and a wait that cancel() cuts short (stop, close). */
class Backoff {
  readonly #opts: BackoffOptions;
  #delay: number;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(opts: BackoffOptions) {
    this.#opts = opts;
    this.#delay = opts.initialMs;
  }

  get nextMs(): number {
    return this.#delay;
  }

  reset(): void {
    this.#delay = this.#opts.initialMs;
  }

  async wait(): Promise<void> {
    const ms = this.#delay;
    this.#delay = Math.min(ms * 2, this.#opts.maxMs);
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
    this.#wake = undefined;
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#wake?.();
  }
}
