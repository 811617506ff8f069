// The spare pool kept supplied (spares.ts sizes it, refill.ts makes and reaps
// the spares): one refill per network at a time, in the background, started
// whenever the pool holds fewer than its target; a CreateEndpoint that finds
// the pool empty while a refill is making spares is handed one of them
// (one ovs-vswitchd reconfiguration for all, instead of one more of its own);
// a refill that fails is retried after a pause that doubles up to
// RETRY_MAX_MS, and nothing else starts one for that network meanwhile.
// Every SHRINK_CHECK_MS, the surplus of each network idle for IDLE_SHRINK_MS
// leaves the pool and is reaped in one batch (spares.ts says why).
import { performance } from 'node:perf_hooks';
import type { DataplaneContext } from './context.js';
import { makeSpares, reapSpares } from './refill.js';
import { IDLE_SHRINK_MS, SparePool, type Spare } from './spares.js';
import { shortId } from '../names.js';

/** The first pause after a failed refill (ms); it doubles with each failure in a row. */
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 30_000;

/** How often the pools are checked for an idle network's surplus (ms): it goes between IDLE_SHRINK_MS and this much later. */
export const SHRINK_CHECK_MS = IDLE_SHRINK_MS / 4;

/** Making and reaping spares, as refill.ts does them. */
export interface SpareOps {
  make: typeof makeSpares;
  reap: typeof reapSpares;
}

export class SpareSupply {
  readonly pool: SparePool;
  readonly #ctx: DataplaneContext;
  readonly #ops: SpareOps;
  /** network ID → its refill, queued or running */
  readonly #refilling = new Map<string, Promise<void>>();
  /** network ID → those waiting for a spare of the refill that is making them */
  readonly #waiters = new Map<string, Array<(s: Spare | undefined) => void>>();
  /** network ID → the pause after its failed refill(s), running */
  readonly #paused = new Map<string, NodeJS.Timeout>();
  /** network ID → the length of its last pause (ms), while its refills keep failing */
  readonly #pauseMs = new Map<string, number>();
  /** the reaping of idle networks' surplus, running or waiting for its lock */
  readonly #shrinking = new Set<Promise<void>>();
  readonly #shrinkTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /** `ops`: how spares are made and reaped (refill.ts; tests pass their own); `now`: the pool's clock (tests pass their own). */
  constructor(ctx: DataplaneContext, size: number, ops: SpareOps = { make: makeSpares, reap: reapSpares }, now?: () => number) {
    this.#ctx = ctx;
    this.#ops = ops;
    this.pool = new SparePool(size, now);
    if (size > 0) {
      this.#shrinkTimer = setInterval(() => this.shrink(), SHRINK_CHECK_MS);
      this.#shrinkTimer.unref(); // never keeps the daemon alive
    }
  }

  /**
   * Tops the network's pool up to its target in the background, never while a
   * request waits: the refill waits at the gate of a reconciliation like a
   * request, and runs under the network's spare lock, which only the reaping
   * of spares (DeleteNetwork's, an idle network's surplus) also takes. Called after each hand-out, at the end of each
   * reconciliation, and by itself after a refill (demand may have grown
   * meanwhile) or after the pause that follows a failure.
   */
  refill(networkId: string): void {
    if (this.#closed || this.#refilling.has(networkId) || this.#paused.has(networkId) || this.pool.wanted(networkId) === 0) return;
    const { locks, log } = this.#ctx;
    const run = locks.outside(() => locks.run(spareLockKey(networkId), () => this.#refillNow(networkId)))
      .then((made) => {
        if (made > 0) setImmediate(() => this.refill(networkId));
      }, (err: unknown) => {
        this.#pause(networkId);
        log.error({ err, network: shortId(networkId), retryMs: this.#pauseMs.get(networkId) },
          `refilling spares failed: ${(err as Error).message}; retrying after a pause`);
      })
      .finally(() => this.#refilling.delete(networkId));
    this.#refilling.set(networkId, run);
  }

  /**
   * Gives back the surplus of each network idle for IDLE_SHRINK_MS
   * (SparePool.shrink): out of the pool at once, so never handed out
   * afterwards, then reaped in the background in one batch (one detachPorts)
   * under the network's spare lock, after the gate of a reconciliation, like a
   * refill. A network whose refill is queued or running is left for the next
   * check. Called every SHRINK_CHECK_MS.
   */
  shrink(): void {
    if (this.#closed) return;
    const { locks, log } = this.#ctx;
    for (const networkId of this.pool.networks()) {
      if (this.#refilling.has(networkId)) continue;
      const surplus = this.pool.shrink(networkId);
      if (surplus.length === 0) continue;
      const run: Promise<void> = locks.outside(() => locks.run(spareLockKey(networkId), () => this.#ops.reap(this.#ctx, surplus)))
        .then(() => log.debug({ network: shortId(networkId), reaped: surplus.length, ready: this.pool.count(networkId) }, 'idle network\'s surplus spares reaped'),
          (err: unknown) => log.error({ err, network: shortId(networkId) }, `reaping surplus spares failed: ${(err as Error).message}; reconciliation will finish it`))
        .finally(() => this.#shrinking.delete(run));
      this.#shrinking.add(run);
    }
  }

  /**
   * CreateEndpoint, having found the pool empty: a spare of the refill that is
   * making the network's spares now, once it is made; undefined at once when
   * none is (no refill, or one still waiting for its turn), and when that
   * refill fails or makes too few. A spare given here is the caller's alone.
   */
  awaitSpare(networkId: string): Promise<Spare | undefined> {
    const waiting = this.#waiters.get(networkId);
    if (!waiting) return Promise.resolve(undefined);
    return new Promise((resolve) => waiting.push(resolve));
  }

  /** Spare lock: a network's refills and the reaping of its spares are serialised. */
  run<T>(networkId: string, fn: () => Promise<T>): Promise<T> {
    return this.#ctx.locks.run(spareLockKey(networkId), fn);
  }

  /** No refill or shrink starts any more; resolves once those running are done. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#shrinkTimer);
    for (const timer of this.#paused.values()) clearTimeout(timer);
    await Promise.all([...this.#refilling.values(), ...this.#shrinking]);
  }

  async #refillNow(networkId: string): Promise<number> {
    const net = this.#ctx.state.network(networkId);
    const count = net ? this.pool.wanted(networkId) : 0;
    if (!net || count === 0 || this.#closed) return 0;
    const t0 = performance.now();
    const waiting: Array<(s: Spare | undefined) => void> = [];
    this.#waiters.set(networkId, waiting);
    let made: Spare[] = [];
    let handed = 0;
    try {
      made = await this.#ops.make(this.#ctx, net, count);
    } finally {
      // the waiters first (each counted as demand already when it found the pool empty), then the pool
      this.#waiters.delete(networkId);
      for (const w of waiting) {
        const s = made.shift();
        if (s) handed++;
        w(s);
      }
    }
    this.pool.refilled(networkId, performance.now() - t0);
    this.#pauseMs.delete(networkId);
    // the network may be gone meanwhile (its DeleteNetwork waits for this lock, then reaps)
    const extra = this.#ctx.state.network(networkId) ? made.filter((s) => !this.pool.add(s)) : made;
    await this.#ops.reap(this.#ctx, extra);
    this.#ctx.log.debug({ network: shortId(networkId), made: made.length + handed, handed, ready: this.pool.count(networkId),
      ms: Math.round(performance.now() - t0) }, 'spares refilled');
    return made.length - extra.length + handed;
  }

  /** After a failed refill: none for this network until the pause is over, then one; the pause doubles while failures go on. */
  #pause(networkId: string): void {
    const ms = Math.min(RETRY_MAX_MS, 2 * (this.#pauseMs.get(networkId) ?? RETRY_MIN_MS / 2));
    this.#pauseMs.set(networkId, ms);
    const timer = setTimeout(() => {
      this.#paused.delete(networkId);
      this.refill(networkId);
    }, ms);
    timer.unref();
    this.#paused.set(networkId, timer);
  }
}

const spareLockKey = (networkId: string): string => `spares:${networkId}`;
