// The spare pool's bookkeeping (src/dataplane/spares.ts): hand-out order, no
// spare handed out twice, refill sizing that follows demand, the pool's cap.
import t from 'tap';
import { BURST_FACTOR, SparePool, type Spare } from '../../src/dataplane/spares.js';

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
  for (let i = 0; i < 10; i++) pool.add(spare());
  t.equal(pool.count(NET), 2 * BURST_FACTOR);
});

t.test('refill sizing: the pool\'s size when idle, the demand after a burst, capped', async (t) => {
  const pool = new SparePool(4);
  t.equal(pool.startRefill(NET), 4, 'an empty pool is filled to its size');
  for (let i = 0; i < 4; i++) pool.add(spare());
  pool.take(NET);
  t.equal(pool.startRefill(NET), 1, 'one handed out: one made');
  pool.add(spare());
  for (let i = 0; i < 10; i++) pool.take(NET); // 4 handed out, 6 found none
  t.equal(pool.startRefill(NET), 10, 'a burst of 10: 10 made in one batch');
  for (let i = 0; i < 40; i++) pool.take(NET);
  t.equal(pool.startRefill(NET), 4 * BURST_FACTOR, 'never more than the cap');
  t.equal(pool.startRefill(NET), 4, 'the demand counts from the last refill');
});

t.test('size 0: no spares, nothing to refill', async (t) => {
  const pool = new SparePool(0);
  t.notOk(pool.add(spare()));
  t.equal(pool.take(NET), undefined);
  t.equal(pool.startRefill(NET), 0);
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
