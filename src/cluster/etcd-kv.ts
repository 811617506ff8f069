// The Kv interface answered by etcd through npm etcd3 (pinned), the only
// module that imports it; the daemon imports this module lazily, in cluster
// mode only. Each call has one deadline (ETCD_CALL_TIMEOUT_MS) shared by its
// retries, and any failure to reach a member becomes ClusterUnreachableError
// "etcd unreachable: no answer from <endpoints> within 2 s (<cause>)".
import { readFile } from 'node:fs/promises';
import { ConsecutiveBreaker, ConstantBackoff, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError, isRecoverableError, type IKeyValue, type Lease } from 'etcd3';
import { ConfigError, OvsvlanError } from '../errors.js';
import type { Logger } from '../log.js';
import { EtcdLease, EtcdWatch, type CallOptions } from './etcd-kv-streams.js';
import { ClusterUnreachableError, ETCD_CALL_TIMEOUT_MS, type Compare, type Kv, type KvLease, type KvOp, type KvPair, type KvWatch, type TxnResult, type WatchHandler } from './kv.js';

export interface EtcdKvOptions {
  readonly endpoints: readonly string[];
  /** paths of PEM files (OVSVLAN_ETCD_CA, _CERT, _KEY) */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly log?: Logger;
}

/**
 * Connects to etcd (called once at the start of a daemon in cluster mode, or
 * by a CLI command that reads the cluster). Reads the TLS files first: one that
 * cannot be read is a ConfigError naming its setting. Does not contact etcd:
 * the first call does, and fails with ClusterUnreachableError if nobody answers.
 */
export async function openEtcdKv(opts: EtcdKvOptions): Promise<Kv> {
  const pem = async (setting: string, path: string | undefined): Promise<Buffer | undefined> => {
    if (path === undefined || path === '') return undefined;
    try {
      return await readFile(path);
    } catch (e) {
      throw new ConfigError(`${setting}: cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const [ca, cert, key] = [await pem('OVSVLAN_ETCD_CA', opts.ca), await pem('OVSVLAN_ETCD_CERT', opts.cert), await pem('OVSVLAN_ETCD_KEY', opts.key)];
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('OVSVLAN_ETCD_CERT and OVSVLAN_ETCD_KEY go together: a client certificate needs its key');
  if (cert !== undefined && ca === undefined) throw new ConfigError('OVSVLAN_ETCD_CERT needs OVSVLAN_ETCD_CA (the CA that signed the etcd members\' certificates)');
  if (opts.endpoints.length === 0) throw new ConfigError('OVSVLAN_ETCD: no endpoint');
  return new EtcdKv(opts.endpoints, ca === undefined ? undefined : { rootCertificate: ca, privateKey: key, certChain: cert }, opts.log);
}

/** A Kv on an etcd cluster; see openEtcdKv. */
export class EtcdKv implements Kv {
  readonly #client: Etcd3;
  readonly #endpoints: string;
  readonly #log: Logger | undefined;
  readonly #watches = new Set<EtcdWatch>();
  readonly #leases = new Set<EtcdLease>();
  /** the message of the last failure to reach a member, for errors of calls no member was tried for */
  #lastCause: string | undefined;

  constructor(endpoints: readonly string[], credentials: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } | undefined, log?: Logger) {
    this.#endpoints = endpoints.join(',');
    this.#log = log;
    this.#client = new Etcd3({
      hosts: [...endpoints],
      ...(credentials === undefined ? {} : { credentials }),
      faultHandling: {
        // A failed attempt is retried on the next member (etcd3 walks a
        // shuffled list), once per member: with one member down a call still
        // succeeds. Not after DEADLINE_EXCEEDED: the deadline is the whole
        // call's, so no attempt after it can succeed.
        global: retry(handleWhen((e) => isRecoverableError(e) && !(e instanceof GRPCDeadlineExceededError)), {
          maxAttempts: endpoints.length,
          backoff: new ConstantBackoff(50),
        }),
        // A member that failed twice in a row is skipped for 1 s, so a member
        // that does not answer (rather than refusing) costs one call its
        // deadline, not every call. etcd3's default (5 s after 3 failures)
        // kept calls failing for up to 5 s after the cluster came back.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(2) }),
        // Watches are reset on any disconnect (EtcdWatch) and opened anew by
        // their owner: a new stream must not wait etcd3's default 30 s.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2_000 }).next(),
      },
      grpcOptions: {
        // A member back from an outage is dialled again within 1 s (grpc's default backoff grows to 120 s).
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1_000,
        // Each client its own connections: etcd3 drops a failed member's client; a shared subchannel would keep its backoff.
        'grpc.use_local_subchannel_pool': 1,
        // A member gone silent (no RST) ends the watch and keepalive streams within ~13 s; etcd allows pings every 5 s.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 3_000,
      },
    });
  }

  async get(key: string): Promise<KvPair | undefined> {
    const res = await this.#call('get', (o) => this.#client.kv.range({ key: Buffer.from(key) }, o));
    const kv = res.kvs[0];
    return kv === undefined ? undefined : toPair(kv);
  }

  async range(prefix: string): Promise<{ pairs: KvPair[]; revision: number }> {
    const res = await this.#call('range', (o) => this.#client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) }, o));
    return { pairs: res.kvs.map(toPair), revision: Number(res.header.revision) };
  }

  async txn(compares: readonly Compare[], success: readonly KvOp[], failure: readonly KvOp[] = []): Promise<TxnResult> {
    const res = await this.#call('txn', (o) =>
      this.#client.kv.txn({ compare: compares.map(toCompare), success: success.map(toRequestOp), failure: failure.map(toRequestOp) }, o),
    );
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  async watch(prefix: string, fromRevision: number, handler: WatchHandler): Promise<KvWatch> {
    const builder = this.#client.watch().prefix(prefix);
    if (fromRevision > 0) builder.startRevision(String(fromRevision));
    const watch = new EtcdWatch(builder.watcher(), handler, () => this.#watches.delete(watch), this.#log);
    this.#watches.add(watch);
    await watch.established().catch((e: unknown) => {
      throw this.#unreachable(e);
    });
    return watch;
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    let lease: Lease | undefined;
    try {
      const id = await this.#call('grant a lease', (o) => {
        lease = this.#client.lease(ttlSeconds, o);
        return lease.grant();
      });
      const granted = new EtcdLease(lease as Lease, id, ttlSeconds, (revoke) => this.#call('revoke a lease', revoke), () => this.#leases.delete(granted), this.#log);
      this.#leases.add(granted);
      return granted;
    } catch (e) {
      lease?.release();
      throw e;
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#watches].map((w) => w.close()));
    for (const lease of this.#leases) lease.release();
    this.#client.close();
  }

  /** Runs one etcd call under the Kv's deadline; failures to reach etcd become ClusterUnreachableError. */
  async #call<T>(what: string, call: (options: CallOptions) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer')), ETCD_CALL_TIMEOUT_MS);
    });
    try {
      return await Promise.race([call({ deadline: new Date(Date.now() + ETCD_CALL_TIMEOUT_MS) }), late]);
    } catch (e) {
      if (isUnreachable(e)) throw this.#unreachable(e);
      throw new OvsvlanError('OVSVLAN_ERR_STORE', `etcd ${what} failed: ${(e as Error).message}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  #unreachable(cause: unknown): ClusterUnreachableError {
    if (cause instanceof ClusterUnreachableError) return cause;
    // every member's breaker open: say why they failed, not just that they are skipped
    const why = isBrokenCircuitError(cause) && this.#lastCause !== undefined ? `each failed in the last second: ${this.#lastCause}` : (cause as Error).message;
    if (!isBrokenCircuitError(cause)) this.#lastCause = (cause as Error).message;
    return new ClusterUnreachableError(`no answer from ${this.#endpoints} within ${ETCD_CALL_TIMEOUT_MS / 1000} s (${why})`, cause);
  }
}

/** Errors that mean no member answered (as opposed to an answer refusing the call). */
function isUnreachable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return isRecoverableError(e) || isBrokenCircuitError(e) || e.message === 'no answer' || /etcdserver: (no leader|request timed out|leader changed)/.test(e.message);
}

function toPair(kv: IKeyValue): KvPair {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    version: Number(kv.version),
    lease: kv.lease === '0' || kv.lease === '' ? undefined : kv.lease,
  };
}

const RESULT = { '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

function toCompare(c: Compare) {
  const key = Buffer.from(c.key);
  const result = RESULT[c.op];
  switch (c.target) {
    case 'value': return { key, result, target: 'Value' as const, value: Buffer.from(c.value) };
    case 'version': return { key, result, target: 'Version' as const, version: c.value };
    case 'createRevision': return { key, result, target: 'Create' as const, create_revision: c.value };
    case 'modRevision': return { key, result, target: 'Mod' as const, mod_revision: c.value };
  }
}

function toRequestOp(op: KvOp) {
  const key = Buffer.from(op.key);
  return op.op === 'put'
    ? { request_put: { key, value: Buffer.from(op.value), ...(op.lease === undefined ? {} : { lease: op.lease }) } }
    : { request_delete_range: { key } };
}

/** The range_end etcd takes for "every key starting with prefix": the prefix with its last byte below 0xff incremented. */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff (or empty): every key from prefix on
}
