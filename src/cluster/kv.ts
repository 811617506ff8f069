// The small key-value interface cluster mode is written against: what etcd's
// v3 API offers and nothing more (ranges by prefix, compare-and-swap
// transactions, watches that resume from a revision, leases). etcd-kv.ts
// answers it with etcd (npm etcd3, pinned); memory-kv.ts answers it in memory
// for the unit tests of the logic above it. No module outside src/cluster/
// imports etcd3.
import { OvsvlanError } from '../errors.js';

/** One key as the store holds it. Revisions are etcd's: the store-wide counter at the key's creation / last change. */
export interface KvPair {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** changes since creation: 1 for a new key; a missing key compares as version 0 */
  readonly version: number;
  /** the lease the key is attached to, as a decimal string; undefined: none */
  readonly lease: string | undefined;
}

/** A condition of a transaction. A key that does not exist has version, createRevision and modRevision 0. */
export type Compare =
  | { readonly key: string; readonly target: 'version' | 'createRevision' | 'modRevision'; readonly op: '==' | '!=' | '<' | '>'; readonly value: number }
  | { readonly key: string; readonly target: 'value'; readonly op: '==' | '!='; readonly value: string };

export type KvOp =
  | { readonly op: 'put'; readonly key: string; readonly value: string; /** a lease id from grantLease */ readonly lease?: string }
  | { readonly op: 'delete'; readonly key: string };

export interface TxnResult {
  /** true: every compare held and `success` was applied; false: `failure` was applied */
  readonly succeeded: boolean;
  /** the store's revision after the transaction */
  readonly revision: number;
}

export interface KvEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** '' for a delete */
  readonly value: string;
  readonly modRevision: number;
}

export interface WatchHandler {
  /** The events of one response, in revision order; `revision`: the response header's revision. */
  onEvents(events: readonly KvEvent[], revision: number): void;
  /**
   * The watch cannot go on from where it was (the revision was compacted, the
   * stream ended or was cancelled by the server): the watcher is closed; the
   * owner re-lists with range() and watches again from the list's revision + 1.
   */
  onReset(reason: string): void;
}

export interface KvWatch {
  close(): Promise<void>;
}

/** A lease kept alive in the background until released, revoked or lost. */
export interface KvLease {
  /** decimal string, as KvOp.put takes it */
  readonly id: string;
  readonly ttlSeconds: number;
  /**
   * `cb` runs once when the lease is lost: it expired (keepalives failed for
   * longer than its TTL) or was revoked by someone else. Keys put with it are
   * gone then; the owner grants a new lease and puts them again.
   */
  onLost(cb: (reason: string) => void): void;
  /** Deletes the lease and every key attached to it. */
  revoke(): Promise<void>;
  /** Stops the keepalives without revoking: the keys go when the TTL runs out (a daemon restart keeps them). */
  release(): void;
}

export interface Kv {
  get(key: string): Promise<KvPair | undefined>;
  /** Every key starting with `prefix`, in key order, and the store's revision of that read. */
  range(prefix: string): Promise<{ pairs: KvPair[]; revision: number }>;
  /** One atomic transaction: `success` when every compare holds, else `failure`. */
  txn(compares: readonly Compare[], success: readonly KvOp[], failure?: readonly KvOp[]): Promise<TxnResult>;
  /** Events on keys under `prefix` from revision `fromRevision` on (inclusive). Resolves once the watch is established. */
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Promise<KvWatch>;
  grantLease(ttlSeconds: number): Promise<KvLease>;
  /** Closes watches, releases leases (without revoking) and the connection. */
  close(): Promise<void>;
}

/**
 * No etcd member answered within the call's deadline (or the connection is
 * refused). Every Kv call of the etcd store rejects with this within
 * ETCD_CALL_TIMEOUT_MS when the cluster is unreachable; the message starts
 * with "etcd unreachable: " and names the endpoints and the cause.
 */
export class ClusterUnreachableError extends OvsvlanError {
  constructor(detail: string, cause?: unknown) {
    super('OVSVLAN_ERR_CLUSTER', `etcd unreachable: ${detail}`, { cause });
  }
}

/** Deadline of one Kv call: an allocation makes at most two, and must fail within 5 s (issue 11). */
export const ETCD_CALL_TIMEOUT_MS = 2_000;
