// An in-memory etcd for the unit tests of the cluster logic: the same Kv
// calls, answered the way etcd answers them (one store-wide revision counter,
// per-key create/mod revision and version, atomic compare-and-swap
// transactions, watches that replay from a revision, leases that expire), plus
// test hooks to compact the history, expire a lease and cut the store off.
// Events are delivered asynchronously, as etcd's are.
import { OvsvlanError } from '../errors.js';
import { ClusterUnreachableError, type Compare, type Kv, type KvEvent, type KvLease, type KvOp, type KvPair, type KvWatch, type TxnResult, type WatchHandler } from './kv.js';

interface Entry {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: string | undefined;
}

interface MemoryWatch {
  readonly prefix: string;
  readonly handler: WatchHandler;
  /** false once reset or closed: no more events are queued for it */
  active: boolean;
  /** true once its owner closed it: nothing queued is delivered any more */
  closed: boolean;
}

interface MemoryLease {
  readonly id: string;
  readonly ttlSeconds: number;
  readonly keys: Set<string>;
  readonly lostCallbacks: Array<(reason: string) => void>;
  /** false once released: keepalives stopped, nobody to tell when it goes */
  kept: boolean;
  expiry: NodeJS.Timeout | undefined;
  keepalive: NodeJS.Timeout | undefined;
}

/** An in-memory Kv with etcd's semantics, for unit tests; see the test hooks compact, expireLease and setUnreachable. */
export class MemoryKv implements Kv {
  #revision = 1; // etcd's revision of an empty store
  #compactedTo = 0;
  #closed = false;
  #unreachable = false;
  #nextLease = 0x7a11_0000;
  readonly #data = new Map<string, Entry>();
  /** every change, in revision order, for watches that start in the past */
  #history: Array<{ revision: number; events: KvEvent[] }> = [];
  readonly #watches = new Set<MemoryWatch>();
  readonly #leases = new Map<string, MemoryLease>();

  /** The store's current revision (test helper). */
  get revision(): number {
    return this.#revision;
  }

  async get(key: string): Promise<KvPair | undefined> {
    this.#reachable();
    const entry = this.#data.get(key);
    return entry === undefined ? undefined : { key, ...entry };
  }

  async range(prefix: string): Promise<{ pairs: KvPair[]; revision: number }> {
    this.#reachable();
    const keys = [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort(byteOrder);
    return { pairs: keys.map((key) => ({ key, ...(this.#data.get(key) as Entry) })), revision: this.#revision };
  }

  async txn(compares: readonly Compare[], success: readonly KvOp[], failure: readonly KvOp[] = []): Promise<TxnResult> {
    this.#reachable();
    const succeeded = compares.every((c) => this.#holds(c));
    const ops = succeeded ? success : failure;
    for (const op of ops) {
      if (op.op === 'put' && op.lease !== undefined && !this.#leases.has(op.lease)) {
        throw new OvsvlanError('OVSVLAN_ERR_STORE', `etcd: requested lease not found (${op.lease})`);
      }
    }
    this.#apply(ops);
    return { succeeded, revision: this.#revision };
  }

  async watch(prefix: string, fromRevision: number, handler: WatchHandler): Promise<KvWatch> {
    this.#reachable();
    const watch: MemoryWatch = { prefix, handler, active: true, closed: false };
    const start = fromRevision <= 0 ? this.#revision + 1 : fromRevision;
    if (start < this.#compactedTo) {
      this.#reset(watch, `required revision ${start} has been compacted (compacted to ${this.#compactedTo})`);
    } else {
      this.#watches.add(watch);
      for (const { revision, events } of this.#history) {
        if (revision >= start) this.#deliver(watch, events, revision);
      }
    }
    return {
      close: async () => {
        watch.active = false;
        watch.closed = true;
        this.#watches.delete(watch);
      },
    };
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    this.#reachable();
    const lease: MemoryLease = { id: String(this.#nextLease++), ttlSeconds, keys: new Set(), lostCallbacks: [], kept: true, expiry: undefined, keepalive: undefined };
    this.#leases.set(lease.id, lease);
    this.#refresh(lease);
    lease.keepalive = setInterval(() => {
      if (!this.#unreachable && !this.#closed) this.#refresh(lease);
    }, (ttlSeconds * 1000) / 3).unref();
    return {
      id: lease.id,
      ttlSeconds,
      onLost: (cb) => void lease.lostCallbacks.push(cb),
      revoke: async () => {
        this.#reachable();
        this.#end(lease, undefined);
      },
      release: () => this.#release(lease),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const watch of this.#watches) {
      watch.active = false;
      watch.closed = true;
    }
    this.#watches.clear();
    for (const lease of this.#leases.values()) {
      this.#release(lease);
      clearTimeout(lease.expiry); // nothing runs after close: the store is gone
    }
  }

  /** Test hook: drops the history before `revision`; a watch from an older revision then gets onReset. */
  compact(revision: number): void {
    this.#compactedTo = Math.max(this.#compactedTo, Math.min(revision, this.#revision));
    this.#history = this.#history.filter((h) => h.revision >= this.#compactedTo);
  }

  /** Test hook: the lease expires now, as if its keepalives had failed for its TTL: its keys are deleted, onLost fires. */
  expireLease(id: string): void {
    const lease = this.#leases.get(id);
    if (lease !== undefined) this.#end(lease, 'lease expired');
  }

  /**
   * Test hook: while unreachable every call rejects with ClusterUnreachableError,
   * every watch gets onReset, and keepalives fail (a lease expires after its TTL).
   */
  setUnreachable(unreachable: boolean): void {
    this.#unreachable = unreachable;
    if (!unreachable) return;
    for (const watch of this.#watches) this.#reset(watch, 'etcd unreachable (test hook)');
    this.#watches.clear();
  }

  #reachable(): void {
    if (this.#closed) throw new ClusterUnreachableError('the in-memory store is closed');
    if (this.#unreachable) throw new ClusterUnreachableError('in-memory store set unreachable (test hook)');
  }

  #holds(c: Compare): boolean {
    const entry = this.#data.get(c.key);
    if (c.target === 'value') {
      // etcd: a value compare on a missing key is false, whatever the operator
      if (entry === undefined) return false;
      return c.op === '==' ? entry.value === c.value : entry.value !== c.value;
    }
    const actual = entry === undefined ? 0 : entry[c.target];
    switch (c.op) {
      case '==': return actual === c.value;
      case '!=': return actual !== c.value;
      case '<': return actual < c.value;
      case '>': return actual > c.value;
    }
  }

  /** Applies ops at one new revision (none when nothing changes) and tells the watches. */
  #apply(ops: readonly KvOp[]): void {
    const revision = this.#revision + 1;
    const events: KvEvent[] = [];
    for (const op of ops) {
      const old = this.#data.get(op.key);
      if (old?.lease !== undefined) this.#leases.get(old.lease)?.keys.delete(op.key);
      if (op.op === 'delete') {
        if (old === undefined) continue;
        this.#data.delete(op.key);
        events.push({ type: 'delete', key: op.key, value: '', modRevision: revision });
      } else {
        this.#data.set(op.key, {
          value: op.value,
          createRevision: old?.createRevision ?? revision,
          modRevision: revision,
          version: (old?.version ?? 0) + 1,
          lease: op.lease,
        });
        if (op.lease !== undefined) this.#leases.get(op.lease)?.keys.add(op.key);
        events.push({ type: 'put', key: op.key, value: op.value, modRevision: revision });
      }
    }
    if (events.length === 0) return;
    this.#revision = revision;
    this.#history.push({ revision, events });
    for (const watch of this.#watches) this.#deliver(watch, events, revision);
  }

  #deliver(watch: MemoryWatch, all: readonly KvEvent[], revision: number): void {
    const events = all.filter((e) => e.key.startsWith(watch.prefix));
    if (events.length === 0 || !watch.active) return;
    setImmediate(() => {
      if (!watch.closed) watch.handler.onEvents(events, revision);
    });
  }

  /** The watch stops receiving now; onReset runs after what was already queued for it. */
  #reset(watch: MemoryWatch, reason: string): void {
    watch.active = false;
    setImmediate(() => {
      if (watch.closed) return;
      watch.closed = true;
      watch.handler.onReset(reason);
    });
  }

  #refresh(lease: MemoryLease): void {
    clearTimeout(lease.expiry);
    lease.expiry = setTimeout(() => this.#end(lease, `lease expired (no keepalive for ${lease.ttlSeconds} s)`), lease.ttlSeconds * 1000).unref();
  }

  #release(lease: MemoryLease): void {
    lease.kept = false;
    clearInterval(lease.keepalive);
  }

  /** The lease is gone (revoked: lostReason undefined; expired: onLost fires once if still kept) with its keys. */
  #end(lease: MemoryLease, lostReason: string | undefined): void {
    if (!this.#leases.delete(lease.id)) return;
    clearTimeout(lease.expiry);
    clearInterval(lease.keepalive);
    this.#apply([...lease.keys].sort(byteOrder).map((key) => ({ op: 'delete' as const, key })));
    if (lostReason === undefined || !lease.kept) return;
    lease.kept = false;
    for (const cb of lease.lostCallbacks) setImmediate(() => cb(lostReason));
  }
}

/** etcd orders keys by their bytes; for the ASCII keys of keys.ts that is code-unit order. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
