// A Kv that notices when etcd comes back: every call is passed through, and
// the first one that succeeds after a ClusterUnreachableError calls `onBack`
// (cluster.ts then runs address sync, which applies the releases made while
// etcd was away). Nothing else changes: errors are rethrown as they came.
import { ClusterUnreachableError, type Compare, type Kv, type KvLease, type KvOp, type KvPair, type KvWatch, type TxnResult, type WatchHandler } from './kv.js';

export class WatchfulKv implements Kv {
  readonly #kv: Kv;
  readonly #onBack: () => void;
  #down = false;

  constructor(kv: Kv, onBack: () => void) {
    this.#kv = kv;
    this.#onBack = onBack;
  }

  /** Whether the last call that ended found etcd unreachable. */
  get down(): boolean {
    return this.#down;
  }

  get(key: string): Promise<KvPair | undefined> {
    return this.#track(this.#kv.get(key));
  }
  range(prefix: string): Promise<{ pairs: KvPair[]; revision: number }> {
    return this.#track(this.#kv.range(prefix));
  }
  txn(compares: readonly Compare[], success: readonly KvOp[], failure?: readonly KvOp[]): Promise<TxnResult> {
    return this.#track(this.#kv.txn(compares, success, failure));
  }
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Promise<KvWatch> {
    return this.#track(this.#kv.watch(prefix, fromRevision, handler));
  }
  grantLease(ttlSeconds: number): Promise<KvLease> {
    return this.#track(this.#kv.grantLease(ttlSeconds));
  }
  close(): Promise<void> {
    return this.#kv.close();
  }

  async #track<T>(call: Promise<T>): Promise<T> {
    try {
      const result = await call;
      if (this.#down) {
        this.#down = false;
        this.#onBack();
      }
      return result;
    } catch (err) {
      if (err instanceof ClusterUnreachableError) this.#down = true;
      throw err;
    }
  }
}
