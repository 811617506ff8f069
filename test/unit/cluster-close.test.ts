// Cluster mode's close (src/cluster/cluster.ts openCluster): an address sync pass under way when the
// daemon stops, whose Kv closes under it, is not reported as "address sync failed" (an error in the log
// at every stop otherwise). The Kv is the in-memory one behind a wrapper that holds the pass's range
// until close() closed it and then fails as a closed etcd client does.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import { openCluster } from '../../src/cluster/cluster.js';
import { Keys } from '../../src/cluster/keys.js';
import type { Kv, KvWatch, WatchHandler } from '../../src/cluster/kv.js';
import { MemoryKv } from '../../src/cluster/memory-kv.js';
import { KeyedMutex } from '../../src/lock.js';
import { FileStore } from '../../src/store/file-store.js';
import { StateCache } from '../../src/store/state.js';
import type { Vswitch } from '../../src/vswitch/vswitch.js';

const keys = new Keys('/t');

/** MemoryKv whose range of addresses waits for `release` once `hold` is set; after close every call fails as a closed etcd3 client. */
class HoldingKv implements Kv {
  hold = false;
  held: (() => void) | undefined;
  #closed = false;
  readonly #kv = new MemoryKv();
  async get(key: string): ReturnType<Kv['get']> {
    this.#check();
    return this.#kv.get(key);
  }
  async range(prefix: string): ReturnType<Kv['range']> {
    if (this.hold && prefix === keys.addresses()) await new Promise<void>((r) => void (this.held = r));
    this.#check();
    return this.#kv.range(prefix);
  }
  async txn(...args: Parameters<Kv['txn']>): ReturnType<Kv['txn']> {
    this.#check();
    return this.#kv.txn(...args);
  }
  async watch(prefix: string, fromRevision: number, handler: WatchHandler): Promise<KvWatch> {
    this.#check();
    return this.#kv.watch(prefix, fromRevision, handler);
  }
  async grantLease(ttlSeconds: number): ReturnType<Kv['grantLease']> {
    this.#check();
    return this.#kv.grantLease(ttlSeconds);
  }
  async close(): Promise<void> {
    this.#closed = true;
    await this.#kv.close();
  }
  #check(): void {
    if (this.#closed) throw new Error('The client was already closed'); // not an unreachable etcd: a failed call
  }
}

t.test('an address sync pass under way at close logs no error', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-close-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const state = new StateCache(new FileStore(dir));
  await state.load();
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'debug' }, new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  }));
  const vswitch = { listOwnedPorts: async () => [], syncTunnels: async () => undefined } as unknown as Vswitch; // no mesh network: barely used
  const kv = new HoldingKv();
  kv.hold = true;
  const cluster = await openCluster({ endpoints: ['http://127.0.0.1:1'], ca: undefined, cert: undefined, key: undefined, prefix: '/t', hostId: 'h1', underlayIp: '127.0.0.1', meshGraceMs: 1_000 },
    { state, vswitch, locks: new KeyedMutex(), log, version: 'test', openKv: async () => kv });
  const end = Date.now() + 10_000;
  while (kv.held === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.ok(kv.held, 'the start\'s address sync pass is reading the addresses');
  const closing = cluster.close();
  await new Promise((r) => setTimeout(r, 100)); // close() closes the Kv (it does not wait for the pass)
  kv.held?.();
  await closing;
  await new Promise((r) => setTimeout(r, 100));
  t.same(lines.filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error logged');
});
