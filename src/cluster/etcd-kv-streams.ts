// The two long-lived things of the etcd Kv (etcd-kv.ts): a watch and a lease,
// each wrapping its etcd3 object (types only here: etcd-kv.ts is the module
// that loads etcd3). A watch is reset on anything that could hide an event; a
// lease is reported lost once, as soon as etcd may have expired it.
import type { Lease, Watcher } from 'etcd3';
import type { Logger } from '../log.js';
import { ETCD_CALL_TIMEOUT_MS, type KvEvent, type KvLease, type KvWatch, type WatchHandler } from './kv.js';

/** The per-call option etcd-kv.ts sets: the call's deadline, shared by its retries. */
export type CallOptions = { readonly deadline: Date };

/** One etcd3 watcher, made by EtcdKv.watch: events to its handler; any disconnect, cancel or end resets it (after which it is closed). */
export class EtcdWatch implements KvWatch {
  #done = false;
  #connected = false;
  #lastCause: unknown = new Error('no answer');
  readonly #ready: Promise<void>;

  constructor(
    private readonly watcher: Watcher,
    private readonly handler: WatchHandler,
    private readonly forget: () => void,
    private readonly log: Logger | undefined,
  ) {
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#connected) return;
        void this.close();
        reject(this.#lastCause);
      }, ETCD_CALL_TIMEOUT_MS);
      const up = (): void => {
        this.#connected = true;
        clearTimeout(timer);
        resolve();
      };
      watcher.on('connected', up);
      watcher.on('data', (res) => {
        const events: KvEvent[] = res.events.map((e) => ({
          type: e.type === 'Put' ? 'put' : 'delete',
          key: e.kv.key.toString(),
          value: e.type === 'Put' ? e.kv.value.toString() : '',
          modRevision: Number(e.kv.mod_revision),
        }));
        if (events.length === 0 || this.#done) return; // a progress notification
        try {
          handler.onEvents(events, Number(res.header.revision));
        } catch (e) {
          this.log?.error({ err: e }, 'a watch handler threw: the watch is reset');
          this.#reset(`its handler threw: ${(e as Error).message}`);
        }
      });
      // etcd3 would resume after a disconnect from the last response header's
      // revision + 1, which during a catch-up is the store's revision, not the
      // last event's: events could be skipped. So any disconnect resets.
      watcher.on('disconnected', (err) => {
        if (this.#connected) this.#reset(`the watch stream was lost: ${err.message}`);
        else this.#lastCause = err;
      });
      // etcd cancelled it (a compacted start revision, among others).
      watcher.on('error', (err) => {
        up();
        this.#reset(`etcd cancelled the watch (its revision may have been compacted): ${err.message}`);
      });
      watcher.on('end', () => this.#reset('the watch ended'));
    });
  }

  /** Resolves once etcd created the watch; rejects with the last cause if it did not within the deadline. */
  established(): Promise<void> {
    return this.#ready;
  }

  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.forget();
    await this.#cancel();
  }

  #reset(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.forget();
    void this.#cancel();
    this.log?.info({ reason }, 'etcd watch reset');
    this.handler.onReset(reason);
  }

  /** etcd3's cancel waits for etcd's answer, which a cancelled or lost watch never gets: bounded by the deadline. */
  async #cancel(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.watcher.cancel().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ETCD_CALL_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }
}

/**
 * One etcd3 lease with keepalives, made by EtcdKv.grantLease. Lost when etcd3 says so (keepalive answered
 * TTL 0, or no keepalive for 2 TTL) or, sooner, when no keepalive was answered
 * for one TTL: etcd expires it then (cluster-design.md: watch the keepalive yourself).
 */
export class EtcdLease implements KvLease {
  readonly #callbacks: Array<(reason: string) => void> = [];
  #lastAnswered = Date.now();
  #ended = false;
  readonly #check: NodeJS.Timeout;

  constructor(
    private readonly lease: Lease,
    readonly id: string,
    readonly ttlSeconds: number,
    private readonly call: (revoke: (o: CallOptions) => Promise<void>) => Promise<void>,
    private readonly forget: () => void,
    private readonly log: Logger | undefined,
  ) {
    lease.on('lost', (err) => this.#lost(`etcd says the lease is gone: ${err.message}`));
    lease.on('keepaliveSucceeded', () => void (this.#lastAnswered = Date.now()));
    this.#check = setInterval(() => {
      if (Date.now() - this.#lastAnswered > ttlSeconds * 1000) this.#lost(`no keepalive answered for ${ttlSeconds} s (its TTL)`);
    }, Math.min(1_000, (ttlSeconds * 1000) / 4)).unref();
  }

  onLost(cb: (reason: string) => void): void {
    this.#callbacks.push(cb);
  }

  async revoke(): Promise<void> {
    this.#end();
    await this.call((o) => this.lease.revoke(o));
  }

  release(): void {
    this.#end();
    this.lease.release();
  }

  #end(): void {
    this.#ended = true;
    clearInterval(this.#check);
    this.forget();
  }

  #lost(reason: string): void {
    if (this.#ended) return;
    this.release();
    this.log?.warn({ lease: this.id, reason }, 'etcd lease lost');
    for (const cb of this.#callbacks) cb(reason);
  }
}
