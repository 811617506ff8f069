// The two long-lived things of the etcd Kv (etcd-kv.ts): a watch and a lease,
// each wrapping its etcd3 object (types only here: etcd-kv.ts is the module
// that loads etcd3). A watch is reset on anything that could hide an event; a
// lease is reported lost once, as soon as etcd may have expired it. Neither
// may stay stuck on a member that takes connections and never answers.
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../log.js';
import { ETCD_CALL_TIMEOUT_MS, type KvEvent, type KvLease, type KvWatch, type WatchHandler } from './kv.js';

/** The per-call option etcd-kv.ts sets: the deadline of an attempt (etcd-kv.ts attemptOptions). */
export type CallOptions = { readonly deadline: Date };

/**
 * One watch on one member, through an etcd3 client of its own (made by
 * EtcdKv.watch, which picks the member and tries another if this one is not
 * established within `budgetMs`): a silent member fails this watch only, not
 * every watch sharing etcd3's one stream. Any disconnect, cancel or end
 * resets it, after which it is closed.
 */
export class EtcdWatch implements KvWatch {
  #done = false;
  #connected = false;
  #lastCause: unknown = new Error('no answer');
  readonly #watcher: Watcher;
  readonly #ready: Promise<void>;

  constructor(
    private readonly client: Etcd3,
    prefix: string,
    fromRevision: number,
    private readonly handler: WatchHandler,
    budgetMs: number,
    private readonly forget: () => void,
    private readonly log: Logger | undefined,
  ) {
    const builder = client.watch().prefix(prefix);
    if (fromRevision > 0) builder.startRevision(String(fromRevision));
    const watcher = (this.#watcher = builder.watcher());
    this.#ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#connected) return;
        void this.close();
        reject(this.#lastCause);
      }, budgetMs);
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

  /** Resolves once etcd created the watch; rejects with the last cause if it did not within its budget. */
  established(): Promise<void> {
    return this.#ready;
  }

  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#stop();
  }

  #reset(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#stop();
    this.log?.info({ reason }, 'etcd watch reset');
    this.handler.onReset(reason);
  }

  /** Cancels the watcher (etcd3 waits for an answer a lost stream never gives: not awaited) and closes its client. */
  #stop(): void {
    this.forget();
    this.#watcher.cancel().catch(() => undefined);
    this.client.close();
  }
}

/** What a lease asks of EtcdKv: one keepalive, and revoking. */
export interface LeaseCalls {
  /** One keepalive of the lease; resolves with the TTL etcd answered, 0: the lease is gone. */
  keepalive(deadline: Date): Promise<number>;
  revoke(): Promise<void>;
  /** The Kv no longer needs to release it at close. */
  forget(): void;
}

/**
 * One etcd lease, made by EtcdKv.grantLease and kept alive here: every TTL/3
 * one keepalive with a short deadline (EtcdKv sends it to the member that
 * answered the last one, and to the next after a failure), again 100 ms after
 * one fails: a member that never answers costs one attempt, not the lease. Lost, once, when etcd answers that the lease is
 * gone or when no keepalive was answered for one TTL: etcd expires it then
 * (cluster-design.md: watch the keepalive yourself; etcd3's own keepalive
 * stream can sit for a whole TTL on a silent member).
 */
export class EtcdLease implements KvLease {
  readonly #callbacks: Array<(reason: string) => void> = [];
  #lastAnswered = Date.now();
  #ended = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly ttlSeconds: number,
    private readonly calls: LeaseCalls,
    private readonly log: Logger | undefined,
  ) {
    this.#next((ttlSeconds * 1000) / 3);
  }

  onLost(cb: (reason: string) => void): void {
    this.#callbacks.push(cb);
  }

  async revoke(): Promise<void> {
    this.release();
    await this.calls.revoke();
  }

  release(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.calls.forget();
  }

  #next(delayMs: number): void {
    if (!this.#ended) this.#timer = setTimeout(() => void this.#keepalive(), delayMs).unref();
  }

  async #keepalive(): Promise<void> {
    const ttlMs = this.ttlSeconds * 1000;
    if (Date.now() - this.#lastAnswered > ttlMs) return this.#lost(`no keepalive answered for ${this.ttlSeconds} s (its TTL)`);
    let ttl: number;
    try {
      ttl = await this.calls.keepalive(new Date(Date.now() + Math.min(ETCD_CALL_TIMEOUT_MS / 2, ttlMs / 6)));
    } catch {
      return this.#next(100);
    }
    if (ttl <= 0) return this.#lost('etcd answered that it expired or was revoked');
    this.#lastAnswered = Date.now();
    this.#next(ttlMs / 3);
  }

  #lost(reason: string): void {
    if (this.#ended) return;
    this.release();
    this.log?.warn({ lease: this.id, reason }, 'etcd lease lost');
    for (const cb of this.#callbacks) cb(reason);
  }
}
