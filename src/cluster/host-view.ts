// The cluster's hosts as this daemon sees them (issue 11): every `alive`
// key under hosts/ (keys.ts), kept by a range read and a watch from the next
// revision; hosts whose key went away are kept as departed, with when, for
// the mesh's grace (mesh.ts). The daemon makes one (hosts.ts says how).
import type { Logger } from 'pino';
import { parseJsonObject } from '../json-object.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import type { Keys } from './keys.js';
import type { Kv, KvEvent, KvWatch } from './kv.js';
import type { HostRecord, HostView } from './types.js';

/**
 * Every host's liveness as the watch sees it: a range read of hosts/, then a
 * watch from the next revision. An `alive` key that is deleted (lease expired
 * or revoked) moves its host to departed with `since` = now; a put brings it
 * back. When the watch resets (compaction, a dropped stream, etcd unreachable)
 * the view lists again, with backoff while etcd does not answer, and hosts
 * missing from the new list depart then. It also lists again every
 * `relistEveryMs` (default 60 s: one range of alive/ and a new watch), so an
 * event missed without a reset is corrected within that. Departed hosts are
 * kept until they return or for `forgetDepartedMs` (default 24 h, far past
 * any mesh grace: the mesh ignores them once its grace has passed), then
 * forgotten. onChange callbacks run at most once per `debounceMs` (default
 * 150), after the first change of a burst.
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
  readonly #relistEveryMs: number;
  readonly #forgetDepartedMs: number;
  #relistTimer: NodeJS.Timeout | undefined;
  /** a listing after a reset is under way: the periodic one is skipped */
  #relisting = false;
  #closed = false;

  constructor(kv: Kv, keys: Keys, log: Logger,
    opts: { debounceMs?: number; backoff?: BackoffOptions; relistEveryMs?: number; forgetDepartedMs?: number } = {}) {
    this.#kv = kv;
    this.#keys = keys;
    this.#log = log;
    this.#debounceMs = opts.debounceMs ?? 150;
    this.#backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
    this.#relistEveryMs = opts.relistEveryMs ?? 60_000;
    this.#forgetDepartedMs = opts.forgetDepartedMs ?? 24 * 3_600_000;
  }

  /** At daemon start: the first listing and the watch, then the periodic listings. Rejects with ClusterUnreachableError (the daemon retries it in the background). */
  async start(): Promise<void> {
    await this.#list();
    if (this.#closed || this.#relistTimer !== undefined) return;
    this.#relistTimer = setInterval(() => void this.#periodic(), this.#relistEveryMs);
    this.#relistTimer.unref();
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
    clearInterval(this.#relistTimer);
    this.#backoff.cancel();
    await this.#watch?.close();
    this.#watch = undefined;
  }

  /** Lists alive/, replaces the alive map (departures and returns from the difference), then watches from the next revision. */
  async #list(): Promise<void> {
    const { pairs, revision } = await this.#kv.range(this.#keys.alives());
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
    for (const [id, { since }] of this.#departed) {
      if (now - since > this.#forgetDepartedMs) this.#departed.delete(id); // gone for long: forgotten (a return is a new arrival)
    }
    if (changed) this.#changed();
    const generation = ++this.#generation;
    const watch = await this.#kv.watch(this.#keys.alives(), revision + 1, {
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
        const id = this.#keys.parseAlive(e.key);
        const record = id === undefined ? undefined : this.#alive.get(id);
        if (id !== undefined && record) changed = this.#depart(id, record, Date.now());
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

  /** The periodic listing: list again and watch from there, then close the previous watch (its events are ignored from the new listing on). */
  async #periodic(): Promise<void> {
    if (this.#closed || this.#relisting) return;
    const previous = this.#watch;
    const generation = this.#generation;
    try {
      await this.#list();
    } catch (err) {
      // the range failed: the current watch goes on; the new watch failed: the old one's events are ignored now, list again until it works
      if (this.#generation === generation || this.#closed) {
        this.#log.debug({ err: (err as Error).message }, 'periodic hosts listing failed; the watch goes on');
        return;
      }
      void this.#relist(`periodic listing failed: ${(err as Error).message}`);
    }
    if (previous !== undefined && previous !== this.#watch) await previous.close().catch(() => undefined);
  }

  /** The watch ended: list again (and watch from there), with backoff while etcd does not answer. */
  async #relist(reason: string): Promise<void> {
    if (this.#relisting) return;
    this.#relisting = true;
    this.#watch = undefined;
    this.#log.warn({ reason }, 'hosts watch reset: listing the hosts again');
    try {
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
    } finally {
      this.#relisting = false;
    }
  }

  /** The record of an `alive` key, or undefined for other keys and values that are no host record (logged). */
  #parse(key: string, value: string): HostRecord | undefined {
    const id = this.#keys.parseAlive(key);
    if (id === undefined) return undefined;
    const record = parseHostRecord(value);
    if (!record) this.#log.warn({ key }, 'not a host record: ignored');
    return record === undefined ? undefined : { ...record, id };
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
  const r = parseJsonObject(value) as Partial<HostRecord> | undefined;
  if (!r) return undefined;
  if (typeof r.id !== 'string' || typeof r.underlayIp !== 'string' || !Array.isArray(r.encapsulations)) return undefined;
  return { versions: {}, mtu: 0, epoch: 0, startedAt: 0, updatedAt: 0, tunnels: {}, conflicts: [], ...r } as HostRecord;
}
