// The spare pool's bookkeeping (src/dataplane/spares.ts): hand-out order, no
// spare handed out twice, a target that follows demand, the pool's cap; and
// its supply (src/dataplane/supply.ts): a burst served from the pool, a
// CreateEndpoint that finds it empty handed a spare of the refill under way,
// a failed refill paused before it is tried again, an idle network's surplus
// given back.
import t from 'tap';
import { pino } from 'pino';
import { BURST_FACTOR, DEMAND_WINDOW_MS, IDLE_SHRINK_MS, SparePool, type Spare } from '../../src/dataplane/spares.js';
import { RETRY_MIN_MS, SpareSupply, type SpareOps } from '../../src/dataplane/supply.js';
import type { DataplaneContext } from '../../src/dataplane/context.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { KeyedMutex } from '../../src/lock.js';
import type { NetworkRecord } from '../../src/store/records.js';

const NET = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
let n = 0;
const spare = (networkId = NET): Spare => {
  n++;
  return { host: `ovh${n.toString(16).padStart(12, '0')}`, container: `ovc${n.toString(16).padStart(12, '0')}`, networkId };
};

t.test('hands out the oldest spare of the network, each once, and none of another network', async (t) => {
  const pool = new SparePool(4);
  const [a, b] = [spare(), spare()];
  pool.add(a);
  pool.add(b);
  pool.add(spare(OTHER));
  t.equal(pool.take(NET), a);
  t.equal(pool.take(NET), b);
  t.equal(pool.take(NET), undefined, 'the network has none left; the other network\'s is not handed out');
  t.equal(pool.count(OTHER), 1);
  t.notOk(pool.has(a.host), 'a spare handed out is no longer the pool\'s');
});

t.test('50 hand-outs at once never give one spare twice', async (t) => {
  const pool = new SparePool(16);
  for (let i = 0; i < 40; i++) pool.add(spare());
  const got = await Promise.all(Array.from({ length: 50 }, async () => pool.take(NET)));
  const given = got.filter((s): s is Spare => s !== undefined).map((s) => s.host);
  t.equal(given.length, 40);
  t.equal(new Set(given).size, 40, 'no spare handed out twice');
});

t.test('a spare is added once; the pool holds at most BURST_FACTOR × its size', async (t) => {
  const pool = new SparePool(2);
  const s = spare();
  t.ok(pool.add(s));
  t.notOk(pool.add(s), 'the same spare twice');
  for (let i = 0; i < 4 * BURST_FACTOR; i++) pool.add(spare());
  t.equal(pool.count(NET), 2 * BURST_FACTOR);
});

t.test('target: the size when idle, the demand of the last second in a burst, capped; back to the size once idle', async (t) => {
  let now = 0;
  const pool = new SparePool(4, () => now);
  t.equal(pool.target(NET), 4, 'idle: the size');
  t.equal(pool.wanted(NET), 4, 'an empty pool is filled to its size');
  for (let i = 0; i < 4; i++) pool.add(spare());
  pool.take(NET);
  t.equal(pool.wanted(NET), 1, 'one handed out: one made (the low watermark is the target)');
  for (let i = 0; i < 20; i++) pool.take(NET); // 3 handed out, 17 found none
  t.equal(pool.target(NET), 21, 'a burst of 21 in a second: the target follows');
  t.equal(pool.wanted(NET), 21);
  for (let i = 0; i < 100; i++) pool.take(NET);
  t.equal(pool.target(NET), 4 * BURST_FACTOR, 'never more than the cap');
  now += DEMAND_WINDOW_MS + 1;
  t.equal(pool.target(NET), 4, 'a second later with no demand: the size again');
  pool.take(NET);
  pool.refilled(NET, 3000); // a slow ovs-vswitchd: demand counts over two refills' time
  now += 5000;
  t.equal(pool.target(NET), 4);
  for (let i = 0; i < 10; i++) pool.take(NET);
  now += 5000;
  t.equal(pool.target(NET), 10, 'within 2 × 3 s: still counted');
  t.equal(new SparePool(4).target(OTHER), 4, 'each network its own');
});

const net = { id: NET, bridge: 'br', vlan: 10, mtu: 1500, datapath: 'netdev' } as unknown as NetworkRecord;

/** A supply whose spares are made by `make` (in memory), on a context with one network; `now`: its pool's clock. */
function supply(size: number, make: (count: number) => Promise<Spare[]>, now?: () => number) {
  const reaped: Spare[] = [];
  const reapBatches: number[] = [];
  const batches: number[] = [];
  const ctx = { state: { network: (id: string) => (id === NET ? net : undefined) }, locks: new KeyedMutex(),
    log: pino({ level: 'silent' }) } as unknown as DataplaneContext;
  const ops: SpareOps = {
    make: async (_ctx, _net, count) => {
      batches.push(count);
      return make(count);
    },
    reap: async (_ctx, spares) => {
      if (spares.length > 0) reapBatches.push(spares.length);
      reaped.push(...spares);
    },
  };
  return { s: new SpareSupply(ctx, size, ops, now), reaped, batches, reapBatches };
}
const made = async (count: number): Promise<Spare[]> => Array.from({ length: count }, () => spare());
const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
};

t.test('a burst is served from the pool: the refill after its first hand-outs makes what the burst used, in one batch', async (t) => {
  // making spares takes a while, as waiting for ovs-vswitchd does
  const { s, batches } = supply(4, async (count) => new Promise((r) => setTimeout(() => r(made(count)), 30)));
  s.refill(NET);
  await until(() => s.pool.count(NET) === 4);
  batches.length = 0;
  // a burst of 12 back to back: each hand-out asks for a refill, as CreateEndpoint does
  let served = 0;
  for (let i = 0; i < 12; i++) {
    if (s.pool.take(NET) ?? await s.awaitSpare(NET)) served++;
    s.refill(NET);
    await new Promise((r) => setTimeout(r, 2));
  }
  t.equal(served, 12, 'every one of the burst got a spare, none made its own pair');
  await until(() => batches.length > 0 && s.pool.count(NET) >= s.pool.target(NET));
  t.ok(s.pool.count(NET) >= 12, `the pool grew to the burst (${s.pool.count(NET)} ready)`);
  t.ok(batches.length < 12, `fewer batches than hand-outs (${batches.join(', ')})`);
  await s.close();
});

t.test('the pool empty while a refill makes spares: the waiters get distinct spares of that refill; none when no refill runs', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const { s, batches } = supply(4, async (count) => {
    await gate;
    return made(count);
  });
  t.equal(await s.awaitSpare(NET), undefined, 'no refill: no wait');
  s.refill(NET);
  await until(() => batches.length === 1);
  t.equal(s.pool.take(NET), undefined, 'the pool is empty');
  const waiting = [s.awaitSpare(NET), s.awaitSpare(NET)];
  release();
  const got = await Promise.all(waiting);
  t.ok(got.every((g) => g !== undefined), 'each waiter got one');
  t.not(got[0]?.host, got[1]?.host, 'not the same one');
  await until(() => s.pool.count(NET) > 0);
  t.notOk(got.some((g) => g && s.pool.has(g.host)), 'what the waiters got is not in the pool too');
  await s.close();
});

t.test('a failed refill: its waiters get none, no refill starts during the pause, one does after it', async (t) => {
  let fail = true;
  const { s, batches } = supply(4, async (count) => {
    if (fail) throw new Error('ovs-vswitchd did not apply the change within 10000 ms');
    return made(count);
  });
  s.refill(NET);
  const waiter = s.awaitSpare(NET);
  t.equal(await waiter, undefined);
  await until(() => batches.length === 1);
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 10; i++) s.refill(NET); // hand-outs asking again during the pause
  await new Promise((r) => setTimeout(r, 50));
  t.equal(batches.length, 1, 'no retry during the pause, however often asked');
  fail = false;
  await new Promise((r) => setTimeout(r, RETRY_MIN_MS + 100));
  await until(() => s.pool.count(NET) === 4);
  t.equal(batches.length, 2, 'retried once after the pause');
  t.equal(s.pool.count(NET), 4);
  await s.close();
});

t.test('an idle network gives back its burst surplus: out of the pool at once, reaped in one batch; demand within the idle time keeps it', async (t) => {
  let now = 0;
  const { s, reaped, reapBatches } = supply(4, made, () => now);
  for (let i = 0; i < 20; i++) s.pool.take(NET); // a burst of 20 found the pool empty
  s.refill(NET);
  await until(() => s.pool.count(NET) === 20);
  t.equal(s.pool.count(NET), 20, 'after the burst the pool holds it');
  const before = s.pool.all();

  now += IDLE_SHRINK_MS - 1;
  s.shrink();
  t.equal(s.pool.count(NET), 20, 'not idle long enough yet: kept');
  const handed = s.pool.take(NET); // one more container, 1 ms before the pool would shrink
  now += IDLE_SHRINK_MS - 1;
  s.shrink();
  t.equal(s.pool.count(NET), 19, 'demand within the idle time keeps the surplus');

  now += 2;
  s.shrink();
  t.equal(s.pool.count(NET), 4, 'idle for the idle time: the pool is back to OVSVLAN_SPARES at once');
  t.equal(s.pool.take(NET)?.host, before[1]?.host, 'the oldest are kept and handed out as before');
  await s.close();
  t.same(reapBatches, [15], 'the surplus was reaped in one batch');
  t.same(reaped.map((r) => r.host), before.slice(5).map((r) => r.host), 'the reaped ones are the newest, none of them in the pool');
  t.notOk(reaped.some((r) => r.host === handed?.host || s.pool.has(r.host)), 'none handed out or still in the pool');
  s.shrink();
  t.same(reapBatches, [15], 'nothing after close');
});

t.test('size 0: no spares, nothing to refill', async (t) => {
  const pool = new SparePool(0);
  t.notOk(pool.add(spare()));
  t.equal(pool.take(NET), undefined);
  t.equal(pool.wanted(NET), 0);
});

t.test('drop takes a network\'s spares out (all, or those picked)', async (t) => {
  const pool = new SparePool(4);
  const [a, b] = [spare(), spare()];
  pool.add(a);
  pool.add(b);
  t.same(pool.drop(NET, (s) => s === a), [a]);
  t.same(pool.all(), [b]);
  t.same(pool.drop(NET), [b]);
  t.equal(pool.count(NET), 0);
  t.notOk(pool.has(b.host));
});

t.test('at a restart, spares found whole are adopted up to the size; what a burst left is not kept', async (t) => {
  const ctx = { state: { network: () => net }, locks: new KeyedMutex(), log: pino({ level: 'silent' }) } as unknown as DataplaneContext;
  const plane = new Dataplane(ctx, { spares: 4 });
  const found = Array.from({ length: 10 }, () => spare());
  const adopted = found.map((s) => plane.adoptSpare(s));
  t.same(adopted.filter(Boolean).length, 4, 'four adopted, the other six left to be reaped');
  t.same(found.filter((s) => plane.hasSpare(s.host)), found.slice(0, 4), 'the pool holds the four adopted');
  await plane.close();
});
