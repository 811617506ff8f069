// OvsdbClient: one long-lived session with ovsdb-server. It reconnects with
// backoff, re-establishes its monitor after every reconnect and mirrors the
// monitored tables in a cache that reads are served from, runs transactions,
// and can wait until ovs-vswitchd has applied one.
import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import type { Logger } from 'pino';
import { RowCache, type OvsdbView } from './cache.js';
import { CFG_TABLE, CfgTracker } from './cfg.js';
import { OvsdbConnectionError, OvsdbError, checkTransactResult } from './errors.js';
import { mutate, select, wait, type Operation, type OperationResult } from './ops.js';
import { JsonRpcConnection } from './rpc.js';

export interface OvsdbClientOptions {
  /** `unix:/path/to/db.sock` (the only scheme supported). */
  endpoint: string;
  /** Default 'Open_vSwitch'. */
  database?: string;
  logger: Logger;
  /** Per request, and how long a request waits for a connection. Default 10000. */
  requestTimeoutMs?: number;
  /** Reconnect delays, doubling from initialMs up to maxMs. Default { initialMs: 250, maxMs: 10000 }. */
  backoff?: { initialMs: number; maxMs: number };
}

export interface OvsdbClientEvents {
  /** A session is up and its monitor established; emitted on the first connection and on every reconnect. */
  connected: [];
  /** A session ended (server gone, socket error, or close()); the client reconnects unless closed. */
  disconnected: [error: Error | undefined];
}

const DEFAULT_DATABASE = 'Open_vSwitch';
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 10_000 };
/** Our <json-value> monitor id (§4.1.5); `update` notifications carry it back. */
const MONITOR_ID = 'ovsdb-client-cache';
/**
 * The tables and columns of Open_vSwitch mirrored in the cache: what Vswitch and vswitch/inventory.ts
 * read (and cur_cfg / next_cfg, which transactAndWait watches). A read of another column is not served.
 */
export const MONITORED: Readonly<Record<string, readonly string[]>> = {
  Open_vSwitch: ['cur_cfg', 'next_cfg', 'ovs_version', 'db_version', 'datapath_types', 'bridges'],
  Bridge: ['name', 'datapath_type', 'external_ids', 'ports'],
  Port: ['name', 'tag', 'trunks', 'vlan_mode', 'protected', 'external_ids', 'interfaces'],
  Interface: ['name', 'type', 'options', 'mtu', 'error'],
};

interface ConnWaiter {
  resolve: (conn: JsonRpcConnection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class OvsdbClient extends EventEmitter<OvsdbClientEvents> {
  readonly #endpoint: string;
  readonly #path: string;
  readonly #db: string;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #cfg = new CfgTracker();
  readonly #cache = new RowCache();
  readonly #connWaiters = new Set<ConnWaiter>();
  #rpc: JsonRpcConnection | undefined; // the open session, set while connected
  #loop: Promise<void> | undefined;
  #closed = false;
  #wake: (() => void) | undefined; // cuts a backoff sleep short on close()

  constructor(opts: OvsdbClientOptions) {
    super();
    this.#endpoint = opts.endpoint;
    this.#path = parseEndpoint(opts.endpoint);
    this.#db = opts.database ?? DEFAULT_DATABASE;
    this.#log = opts.logger;
    this.#timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#backoff = { ...(opts.backoff ?? DEFAULT_BACKOFF) };
    if (!(this.#timeoutMs > 0)) throw new RangeError(`requestTimeoutMs must be > 0, got ${opts.requestTimeoutMs}`);
    const { initialMs, maxMs } = this.#backoff;
    if (!(initialMs > 0) || !(maxMs >= initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${JSON.stringify(opts.backoff)}`);
    }
  }

  get isConnected(): boolean {
    return this.#rpc !== undefined;
  }

  /**
   * Starts the session and resolves once connected. Failed attempts are retried with backoff until one
   * succeeds or close() is called (which rejects this). Later drops are reconnected in the background.
   */
  async connect(): Promise<void> {
    if (this.#closed) throw new OvsdbConnectionError('OVSDB client is closed');
    this.#loop ??= this.#run();
    await this.#connection(Infinity);
  }

  /**
   * The monitored tables (MONITORED) as the server last told us, for reads that need no transaction.
   * Waits for a session like transact() does, and fails as it does when OVSDB is down; the cache is
   * emptied when a session ends and refilled by the monitor before the next one serves a read. After
   * a transaction of ours commits, its effect is here: ovsdb-server sends the monitor's update before
   * the transact reply on the same connection (test/integration/vswitch.test.ts checks this).
   * Empty for a database other than Open_vSwitch. The view is live: read it, do not keep it across awaits.
   */
  async view(): Promise<OvsdbView> {
    await this.#connection(this.#timeoutMs);
    return this.#cache;
  }

  /** One `transact` (RFC 7047 §4.1.3). Throws OvsdbError if any operation or the commit failed. */
  async transact(ops: Operation[]): Promise<OperationResult[]> {
    const rpc = await this.#connection(this.#timeoutMs);
    const result = await rpc.request('transact', [this.#db, ...ops], this.#timeoutMs);
    return checkTransactResult(ops, result);
  }

  /**
   * Runs `ops` and waits until ovs-vswitchd has applied them, as ovs-vsctl does: the same transaction
   * bumps Open_vSwitch.next_cfg and reads it back, then we wait for the monitored cur_cfg to reach it.
   * Returns the results of `ops` only. After a timeout (OvsdbTimeoutError) the transaction is still committed.
   */
  async transactAndWait(ops: Operation[], timeoutMs = this.#timeoutMs): Promise<OperationResult[]> {
    if (this.#db !== DEFAULT_DATABASE) {
      throw new OvsdbError('not supported', `transactAndWait needs the ${DEFAULT_DATABASE} database, not ${this.#db}`);
    }
    const n = ops.length;
    const results = await this.transact([
      ...ops,
      // §5.2.6 with timeout 0: abort unless the table has a row (projected on no columns, a row is {}).
      wait(CFG_TABLE, [], [], '!=', [], 0),
      mutate(CFG_TABLE, [], [['next_cfg', '+=', 1]]),
      select(CFG_TABLE, [], ['next_cfg']),
    ]).catch((err: unknown) => {
      if (err instanceof OvsdbError && err.opIndex === n) throw notInitialized(err);
      throw err;
    });
    const target = results[n + 2]?.rows?.[0]?.next_cfg;
    if (typeof target !== 'number') {
      throw new OvsdbError('syntax error', `transactAndWait: cannot read next_cfg from ${JSON.stringify(results[n + 2])}`);
    }
    await this.#cfg.waitFor(target, timeoutMs);
    return results.slice(0, n);
  }

  /**
   * Stops reconnecting and closes the session; pending and later requests fail with OvsdbConnectionError.
   * Idempotent. Those waiting for a connection (connect() too) are rejected only once the reconnect loop
   * has ended, just before this resolves: a caller that awaits close() and then the promise of an
   * earlier connect() has its handler in place when that promise rejects (an attempt still opening its
   * socket used to make the rejection land during close(), unhandled).
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const err = new OvsdbConnectionError('OVSDB client closed');
      this.#wake?.();
      this.#rpc?.close(err);
      this.#cfg.rejectAll(err);
      await this.#loop;
      for (const w of this.#connWaiters) this.#settleWaiter(w, err);
    }
    await this.#loop;
  }

  /** Connect → serve until the socket closes → reconnect, with exponential backoff between failed attempts. */
  async #run(): Promise<void> {
    let delay = this.#backoff.initialMs;
    let attempt = 0;
    while (!this.#closed) {
      attempt++;
      let rpc: JsonRpcConnection | undefined;
      try {
        rpc = await this.#open();
        if (this.#closed) {
          rpc.close(); // close() ran while we were connecting
          break;
        }
        const closed = new Promise<Error | undefined>((resolve) => rpc?.once('close', resolve));
        await this.#establish(rpc);
        attempt = 0;
        delay = this.#backoff.initialMs;
        await this.#serve(rpc, closed);
      } catch (err) {
        rpc?.close();
        if (this.#closed) break;
        this.#log.warn({ err, endpoint: this.#endpoint, attempt, retryInMs: delay }, 'OVSDB connection attempt failed');
        await this.#sleep(delay);
        delay = Math.min(delay * 2, this.#backoff.maxMs);
      }
    }
  }

  /** Marks the session connected until it closes. */
  async #serve(rpc: JsonRpcConnection, closed: Promise<Error | undefined>): Promise<void> {
    if (this.#closed) return rpc.close();
    this.#rpc = rpc;
    this.#log.info({ endpoint: this.#endpoint, database: this.#db }, 'connected to OVSDB');
    for (const w of this.#connWaiters) this.#settleWaiter(w, undefined, rpc);
    this.#emitSafely('connected');
    const err = await closed;
    this.#rpc = undefined;
    this.#cache.clear();
    if (!this.#closed) this.#log.warn({ err, endpoint: this.#endpoint }, 'OVSDB connection lost; reconnecting');
    this.#emitSafely('disconnected', err);
  }

  #open(): Promise<JsonRpcConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path: this.#path });
      const onError = (err: Error): void => {
        socket.destroy();
        reject(new OvsdbConnectionError(`cannot connect to ${this.#endpoint}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new JsonRpcConnection(socket));
      });
    });
  }

  /** Checks the database exists and, for Open_vSwitch, (re)starts the monitor (§4.1.5) that fills the cache. */
  async #establish(rpc: JsonRpcConnection): Promise<void> {
    const dbs = await rpc.request('list_dbs', [], this.#timeoutMs); // §4.1.1
    if (!Array.isArray(dbs) || !dbs.includes(this.#db)) {
      throw new OvsdbError('unknown database',
        `OVSDB server at ${this.#endpoint} has no database ${this.#db} (has ${JSON.stringify(dbs)})`);
    }
    if (this.#db !== DEFAULT_DATABASE) return;
    rpc.on('notification', (method, params) => {
      // §4.1.6: "update" params are [<json-value> monitor id, <table-updates>].
      if (method !== 'update' || !Array.isArray(params) || params[0] !== MONITOR_ID) return;
      this.#cache.apply(params[1]);
      this.#cfg.apply(params[1]);
    });
    const requests = Object.fromEntries(Object.entries(MONITORED).map(([table, columns]) => [table, { columns }]));
    const initial = await rpc.request('monitor', [this.#db, MONITOR_ID, requests], this.#timeoutMs);
    this.#cache.reset(initial);
    this.#cfg.reset(initial);
  }

  /** The open session, or waits up to timeoutMs for one. */
  #connection(timeoutMs: number): Promise<JsonRpcConnection> {
    if (this.#rpc) return Promise.resolve(this.#rpc);
    if (this.#closed) return Promise.reject(new OvsdbConnectionError('OVSDB client is closed'));
    if (!this.#loop) return Promise.reject(new OvsdbConnectionError('OVSDB client not started: call connect() first'));
    return new Promise((resolve, reject) => {
      const w: ConnWaiter = { resolve, reject, timer: undefined };
      if (Number.isFinite(timeoutMs)) {
        w.timer = setTimeout(() => this.#settleWaiter(w, new OvsdbConnectionError(
          `not connected to OVSDB at ${this.#endpoint} after waiting ${timeoutMs} ms`)), timeoutMs);
      }
      this.#connWaiters.add(w);
    });
  }

  #settleWaiter(w: ConnWaiter, err: Error | undefined, rpc?: JsonRpcConnection): void {
    if (!this.#connWaiters.delete(w)) return;
    clearTimeout(w.timer);
    if (rpc) w.resolve(rpc);
    else w.reject(err ?? new OvsdbConnectionError('not connected'));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** A listener that throws must not kill the reconnect loop. */
  #emitSafely(event: keyof OvsdbClientEvents, error?: Error): void {
    try {
      if (event === 'connected') this.emit('connected');
      else this.emit('disconnected', error);
    } catch (err) {
      this.#log.error({ err, event }, 'OVSDB client event listener threw');
    }
  }
}

function notInitialized(cause: OvsdbError): OvsdbError {
  return new OvsdbError('not initialized',
    `the ${CFG_TABLE} table has no row, so ovs-vswitchd cannot be waited for; initialise the database first (ovs-vsctl init)`,
    { cause, details: cause.details });
}

/** 'unix:/run/openvswitch/db.sock' → '/run/openvswitch/db.sock'. */
export function parseEndpoint(endpoint: string): string {
  const m = /^([a-z]+):(.*)$/.exec(endpoint);
  if (m?.[1] === 'unix' && m[2]) return m[2];
  throw new TypeError(`unsupported OVSDB endpoint ${JSON.stringify(endpoint)}: only unix:/path/to/db.sock is supported` +
    (m ? ` (not ${m[1]}:)` : ''));
}
