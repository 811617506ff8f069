// The Kv interface answered by etcd through npm etcd3 (pinned), the only
// module that loads it (etcd-kv-streams.ts takes its types); the daemon
// imports this module lazily, in cluster mode only. Each call has one deadline
// (ETCD_CALL_TIMEOUT_MS) that bounds its attempts on the members, and any
// failure to reach a member becomes ClusterUnreachableError
// "etcd unreachable: no answer from <endpoints> within 2 s (<cause>)".
import { readFile } from 'node:fs/promises';
import { CircuitState, ConsecutiveBreaker, ConstantBackoff, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry, type CircuitBreakerPolicy, type IPolicy } from 'cockatiel';
import { Etcd3, EtcdLeaseInvalidError, isRecoverableError, type IKeyValue, type ILeaseKeepAliveResponse, type IOptions } from 'etcd3';
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
 * by a CLI command that reads the cluster), with settings that config
 * validation checked. Reads the TLS files first: one that cannot be read is a
 * ConfigError naming its setting. Does not contact etcd:
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
  if (opts.endpoints.length === 0) throw new ConfigError('OVSVLAN_ETCD: no endpoint');
  // the settings were checked by config validation (settings.ts): a certificate comes with its key, TLS files with https://.
  // Without a CA, grpc's createSsl uses the system's CAs (etcd3 types rootCertificate as required, but passes it on as is).
  const credentials = ca === undefined && cert === undefined ? undefined : { rootCertificate: ca as Buffer, privateKey: key, certChain: cert };
  return new EtcdKv(opts.endpoints, credentials, opts.log);
}

/** A Kv on an etcd cluster; see openEtcdKv. */
export class EtcdKv implements Kv {
  readonly #client: Etcd3;
  /** the client's options but its hosts: each watch has a client of its own, on one member */
  readonly #options: Omit<IOptions, 'hosts'>;
  readonly #members: readonly string[];
  /** one client per member, made on first use, for lease keepalives sent to a chosen member */
  readonly #memberClients = new Map<string, Etcd3>();
  /** the member (index, modulo their number) keepalives go to */
  #keepaliveMember = Math.floor(Math.random() * 1_000);
  /** when a watch last failed to be established on each member: watches go to the others first */
  readonly #failedAt = new Map<string, number>();
  readonly #endpoints: string;
  readonly #log: Logger | undefined;
  readonly #watches = new Set<EtcdWatch>();
  readonly #leases = new Set<EtcdLease>();
  /** the message of the last failure to reach a member, for errors of calls no member was tried for */
  #lastCause: string | undefined;

  constructor(endpoints: readonly string[], credentials: { rootCertificate: Buffer; privateKey?: Buffer; certChain?: Buffer } | undefined, log?: Logger) {
    this.#endpoints = endpoints.join(',');
    this.#members = endpoints;
    this.#log = log;
    this.#options = {
      ...(credentials === undefined ? {} : { credentials }),
      faultHandling: {
        // A failed attempt (refused, or no answer within its half of the
        // call's deadline: attemptOptions) is retried on the next member
        // (etcd3 walks a shuffled list), once per member: with one member down
        // a call still succeeds. The call's own deadline bounds them all.
        global: retry(handleWhen(isRecoverableError), {
          maxAttempts: endpoints.length,
          backoff: new ConstantBackoff(50),
        }),
        // A member that failed twice in a row is skipped for 1 s while
        // another member's breaker is closed (lastResortBreakers), so a
        // member that does not answer costs one call its deadline, not every
        // call; when every breaker is open the member is asked anyway: a
        // slow but healthy cluster (a loaded machine at start) is never
        // refused without being asked.
        host: lastResortBreakers(),
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
    };
    this.#client = new Etcd3({ ...this.#options, hosts: [...endpoints] });
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
    // one member after another, those a watch last failed on last; each but
    // the last gets half the call's budget, so one silent member leaves time for another
    const deadline = Date.now() + ETCD_CALL_TIMEOUT_MS;
    const shuffled = new Map(this.#members.map((m) => [m, Math.random()]));
    const failedAt = (m: string): number => this.#failedAt.get(m) ?? 0;
    const members = [...this.#members].sort((a, b) => failedAt(a) - failedAt(b) || (shuffled.get(a) as number) - (shuffled.get(b) as number));
    let cause: unknown = new Error('no answer');
    for (const [i, member] of members.entries()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const budget = i === members.length - 1 ? left : Math.min(left, ETCD_CALL_TIMEOUT_MS / 2);
      const client = new Etcd3({ ...this.#options, hosts: [member] });
      const watch: EtcdWatch = new EtcdWatch(client, prefix, fromRevision, handler, budget, () => this.#watches.delete(watch), this.#log);
      this.#watches.add(watch);
      try {
        await watch.established();
        return watch;
      } catch (e) {
        cause = e;
        this.#failedAt.set(member, Date.now());
      }
    }
    throw this.#unreachable(cause);
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    const { ID: id } = await this.#call('grant a lease', (o) => this.#client.leaseClient.leaseGrant({ TTL: ttlSeconds }, o));
    const lease: EtcdLease = new EtcdLease(id, ttlSeconds, {
      keepalive: (deadline) => this.#keepalive(id, deadline),
      // a lease that is already gone is revoked: its keys are gone either way
      revoke: () => this.#call('revoke a lease', (o) => this.#client.leaseClient.leaseRevoke({ ID: id }, o).then(() => undefined, ignoreLeaseGone)),
      forget: () => this.#leases.delete(lease),
    }, this.#log);
    this.#leases.add(lease);
    return lease;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#watches].map((w) => w.close()));
    for (const lease of this.#leases) lease.release();
    for (const client of this.#memberClients.values()) client.close();
    this.#client.close();
  }

  /** One keepalive of lease `id` through a client of one member alone: the one that answered the last, or the next after a failure. */
  async #keepalive(id: string, deadline: Date): Promise<number> {
    const member = this.#keepaliveMember;
    try {
      return await this.#keepaliveTo(this.#members[member % this.#members.length] as string, id, deadline);
    } catch (e) {
      if (this.#keepaliveMember === member) this.#keepaliveMember++;
      throw e;
    }
  }

  async #keepaliveTo(endpoint: string, id: string, deadline: Date): Promise<number> {
    let client = this.#memberClients.get(endpoint);
    if (client === undefined) this.#memberClients.set(endpoint, (client = new Etcd3({ ...this.#options, hosts: [endpoint] })));
    const stream = await client.leaseClient.leaseKeepAlive({ deadline });
    const res = await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.on('end', () => reject(new Error('the keepalive stream ended without an answer')));
      stream.write({ ID: id });
    });
    stream.end();
    return Number(res.TTL);
  }

  /** Runs one etcd call under the Kv's deadline; failures to reach etcd become ClusterUnreachableError. */
  async #call<T>(what: string, call: (options: CallOptions) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no answer')), ETCD_CALL_TIMEOUT_MS);
    });
    try {
      return await Promise.race([call(attemptOptions(Date.now() + ETCD_CALL_TIMEOUT_MS)), late]);
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
    const message = causeText((cause as Error).message);
    const why = isBrokenCircuitError(cause) && this.#lastCause !== undefined ? `each failed in the last second: ${this.#lastCause}` : message;
    if (!isBrokenCircuitError(cause)) this.#lastCause = message;
    return new ClusterUnreachableError(`no answer from ${this.#endpoints} within ${ETCD_CALL_TIMEOUT_MS / 1000} s (${why})`, cause);
  }
}

/**
 * The host policies of one Etcd3 client (etcd3 calls the returned function
 * once per member as the client is made): a circuit breaker per member
 * (opens after 2 failures in a row, half-opens after 1 s) that skips its
 * member only while some other member's breaker is not open. etcd3 tries the
 * members in turn and moves past a skipped one; with every breaker open, the
 * first member it tries is asked anyway (the last resort), so a call is never
 * failed by the breakers alone.
 */
function lastResortBreakers(): (host: string) => IPolicy {
  const breakers = new Map<string, CircuitBreakerPolicy>();
  return (host) => {
    const breaker = circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(2) });
    breakers.set(host, breaker);
    const othersOpen = (): boolean => [...breakers].every(([h, b]) => h === host || b.state === CircuitState.Open);
    return {
      _altReturn: undefined as never, // a type-only member of IPolicy
      onSuccess: breaker.onSuccess,
      onFailure: breaker.onFailure,
      execute: (fn, signal) => (breaker.state === CircuitState.Open && othersOpen()
        ? Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal }))
        : breaker.execute(fn, signal)),
    };
  };
}

/**
 * The options of one Kv call, which etcd3 hands to grpc at each attempt: grpc
 * reads `deadline` then, and gets half the call's budget (never past the
 * call's own deadline), so a member that takes the connection and never
 * answers leaves time to ask another. A retried attempt had no answer: if it
 * reached etcd at all, a conditional txn retried fails its compare rather
 * than applying twice.
 */
function attemptOptions(callDeadline: number): CallOptions {
  return {
    get deadline(): Date {
      return new Date(Math.min(callDeadline, Date.now() + ETCD_CALL_TIMEOUT_MS / 2));
    },
  };
}

/**
 * The readable part of a gRPC error's message, for "etcd unreachable: … (<cause>)":
 * "14 UNAVAILABLE: No connection established. Last error: Error: connect
 * ECONNREFUSED 10.0.0.1:2379. Resolution note: " → "connect ECONNREFUSED
 * 10.0.0.1:2379"; "4 DEADLINE_EXCEEDED: Deadline exceeded after 1.001s,LB
 * pick: …" → "Deadline exceeded after 1.001s". Other messages are kept.
 */
export function causeText(message: string): string {
  let text = message.replace(/^\d+ [A-Z_]+: /, '');
  const last = text.lastIndexOf('Last error: ');
  if (last >= 0) {
    const error = text.slice(last + 'Last error: '.length).replace(/^(Error: )+/, '');
    text = /^null\b/.test(error) ? text.slice(0, last) : error; // no error kept: what gRPC said before it
  }
  text = text.replace(/\.? ?Resolution note:.*$/s, '');
  if (/^Deadline exceeded/.test(text)) text = text.replace(/,.*$/s, '');
  return text.replace(/[.\s]+$/, '') || message;
}

function ignoreLeaseGone(e: unknown): void {
  if (!(e instanceof EtcdLeaseInvalidError)) throw e;
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
