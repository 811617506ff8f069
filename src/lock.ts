// Serialises work per key (a network or pool ID): calls for one key run one
// at a time, calls for different keys run in parallel. `exclusive` waits for
// every running call and holds new ones back while it runs (reconciliation).
// Calls made from inside a locked section (a nested, different key, or work
// done by the exclusive section itself) pass the gate. Taking a key the caller
// already holds, or calling exclusive() from a locked section, would wait for
// itself: callers never do.
import { AsyncLocalStorage } from 'node:async_hooks';

export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #inside = new AsyncLocalStorage<true>();
  #gate: Promise<void> = Promise.resolve();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (!this.#inside.getStore()) await this.#gate;
    const prev = this.#tails.get(key) ?? Promise.resolve();
    const next = prev.then(() => this.#inside.run(true, fn));
    const tail = next.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /**
   * Runs `fn` as if called from outside every locked section: work a locked
   * section starts in the background (a refill of spares) then waits at the
   * gate of an exclusive section like any request, instead of passing it.
   */
  outside<T>(fn: () => T): T {
    return this.#inside.exit(fn);
  }

  /** Runs `fn` alone: after every call in progress, before any new one. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const previousGate = this.#gate;
    let open!: () => void;
    const closed = new Promise<void>((r) => (open = r));
    this.#gate = previousGate.then(() => closed);
    await previousGate;
    try {
      await Promise.all([...this.#tails.values()]);
      return await this.#inside.run(true, fn);
    } finally {
      open();
    }
  }
}

/**
 * The lock key of an OVS bridge: bridge creation and removal (driver/network.ts)
 * and the cluster mesh's tunnel changes (cluster/mesh.ts) are serialised per bridge.
 */
export const bridgeLockKey = (bridge: string): string => `bridge:${bridge}`;
