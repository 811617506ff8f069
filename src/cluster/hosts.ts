// The cluster's hosts in etcd (issue 11): this host's liveness record
// (EtcdLiveness) and the view of every host's (EtcdHostView, in host-view.ts,
// exported here too), which the tunnel mesh follows (mesh.ts). Key layout:
// keys.ts (alive/<id> on a lease, put at start and after a lost lease; hosts/<id>/info
// unleased, put again as tunnel counts and conflicts change; hosts/<id>/epoch).
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
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { Keys } from './keys.js';
import { ClusterUnreachableError, type Compare, type Kv, type KvLease, type KvOp, type KvPair } from './kv.js';
import { HOST_TTL_SECONDS, type AddressConflict, type HostRecord, type Liveness, type NetworkIdent } from './types.js';

export { EtcdHostView, parseHostRecord } from './host-view.js';
export type { BackoffOptions } from './backoff.js';

/** What the daemon knows of itself; the rest of the record (epoch, times, tunnels, conflicts) is EtcdLiveness's. */
export type HostFields = Omit<HostRecord, 'epoch' | 'startedAt' | 'updatedAt' | 'tunnels' | 'conflicts'>;

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
  /** a put of `info` is wanted: the record changed */
  #dirty = false;
  /** `alive` must be put too: at start, or the lease or the key was lost */
  #aliveLost = false;
  #writing: Promise<void> | undefined;
  #check: NodeJS.Timeout | undefined;
  #stopped = true;
  /** ms since epoch of the last successful put */
  #lastPut = 0;
  readonly #updateEveryMs: number;
  #updateTimer: NodeJS.Timeout | undefined;

  constructor(kv: Kv, keys: Keys, record: () => HostFields, log: Logger,
    opts: { checkEveryMs?: number; updateEveryMs?: number; backoff?: BackoffOptions } = {}) {
    this.#kv = kv;
    this.#keys = keys;
    this.#fields = record;
    this.#log = log;
    this.#checkEveryMs = opts.checkEveryMs ?? (HOST_TTL_SECONDS * 1000) / 3;
    this.#updateEveryMs = opts.updateEveryMs ?? 1_000;
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

  /**
   * Called after each mesh run and address sync: when the record's tunnels or
   * conflicts differ from what it holds, `info` is put again, at most once per
   * `updateEveryMs` (default 1 s; changes meanwhile coalesce). Only `info`:
   * `alive`, which every host's mesh watches, changes only when this host
   * starts or loses its lease, so a join costs each watcher one event, not
   * one per host whose tunnel count it changed.
   */
  update(fields: Partial<Pick<HostRecord, 'tunnels' | 'conflicts'>>): void {
    const tunnels = fields.tunnels ? { ...fields.tunnels } : this.#tunnels;
    const conflicts = fields.conflicts ? [...fields.conflicts] : this.#conflicts;
    if (JSON.stringify([tunnels, conflicts]) === JSON.stringify([this.#tunnels, this.#conflicts])) return;
    this.#tunnels = tunnels;
    this.#conflicts = conflicts;
    if (this.#stopped || this.#updateTimer !== undefined) return;
    this.#updateTimer = setTimeout(() => {
      this.#updateTimer = undefined;
      if (!this.#stopped) this.#schedule();
    }, Math.max(0, this.#lastPut + this.#updateEveryMs - Date.now()));
  }

  /** At daemon stop: no more keepalives nor puts; the keys stay until the TTL runs out (never revoked). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#check);
    clearTimeout(this.#updateTimer);
    this.#updateTimer = undefined;
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

  /** Puts `info`, and with `alive` true `alive` too (on the lease, granted first when there is none), in one transaction. */
  async #put(alive = true): Promise<void> {
    const lease = alive ? this.#lease ?? (await this.#grant()) : this.#lease;
    const id = this.#fields().id;
    const value = JSON.stringify(this.#record());
    try {
      const info: KvOp = { op: 'put', key: this.#keys.info(id), value };
      await this.#kv.txn([], alive && lease ? [{ op: 'put', key: this.#keys.alive(id), value, lease: lease.id }, info] : [info]);
      this.#lastPut = Date.now();
    } catch (err) {
      // refused with etcd reachable: the lease is gone though no loss was seen; the next try grants a new one
      if (!(err instanceof ClusterUnreachableError) && lease && this.#lease === lease) this.#drop(lease);
      throw err;
    }
  }

  async #grant(): Promise<KvLease> {
    const lease = await this.#kv.grantLease(HOST_TTL_SECONDS);
    lease.onLost((reason) => {
      if (this.#lease !== lease || this.#stopped) return;
      this.#log.warn({ lease: lease.id, reason }, 'host lease lost: granting a new one and putting the record again');
      this.#drop(lease);
      this.#schedule(true);
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

  /** A put is wanted (of `alive` too after a loss): one loop runs the puts one at a time, retrying with backoff until one succeeds or stop(). */
  #schedule(aliveLost = false): void {
    this.#dirty = true;
    this.#aliveLost ||= aliveLost;
    this.#writing ??= this.#writeLoop().finally(() => (this.#writing = undefined));
  }

  async #writeLoop(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve)); // the updates of one burst make one put
    while (this.#dirty && !this.#stopped) {
      this.#dirty = false;
      const alive = this.#aliveLost || this.#lease === undefined;
      this.#aliveLost = false;
      try {
        await this.#put(alive);
        this.#backoff.reset();
      } catch (err) {
        this.#dirty = true;
        this.#aliveLost ||= alive;
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
    this.#schedule(true);
  }
}
