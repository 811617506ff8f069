// What a crash leaves half-made must go within the grace, not at the next
// periodic reconciliation (5 min): an address handed out but never claimed
// (a RequestAddress answered just before a kill -9, whose container never
// started) is freed by the lease-leaked rule once older than the grace; a run
// that finds it younger says when its grace ends (ReconcileReport.recheckAt),
// and the scheduler runs again then. Found by test/e2e/cluster-crash.test.ts:
// in cluster mode the address also stayed held in etcd until the next
// periodic run.
import t from 'tap';
import pino from 'pino';
import { freeStaleLeases } from '../../src/ipam/bind.js';
import { ReconcileScheduler } from '../../src/reconcile/scheduler.js';
import type { PoolRecord } from '../../src/store/records.js';
import { tempState } from '../helpers/temp-state.js';

const log = pino({ level: 'silent' });
const GRACE = 5_000;

t.test('lease-leaked: a pending lease younger than the grace is kept and its grace end reported; an older one is freed', async (t) => {
  const state = await tempState(t, 'recheck');
  const now = Date.now();
  const pool: PoolRecord = {
    id: 'p1', addressSpace: 'ovsvlan-local', v6: false, pool: '10.9.0.0/24', subPool: undefined, networkId: 'n1', auto: false,
    lastAllocated: undefined, createdAt: now - 60_000, leases: {},
  };
  await state.putPool(pool);
  await state.changeLeases('p1', { '10.9.0.5': { kind: 'pending', at: now - 1_000 }, '10.9.0.6': { kind: 'pending', at: now - 10_000 } });
  const docker = { networks: new Map([['n1', []]]) };
  const rules: string[] = [];
  const young: number[] = [];
  await freeStaleLeases(state, state.pool('p1')!, docker, GRACE, (rule, f) => rules.push(`${rule} ${String(f['address'])}`), (at) => young.push(at));
  t.same(rules, ['lease-leaked 10.9.0.6'], 'the old unclaimed lease is freed');
  t.ok(state.pool('p1')!.leases['10.9.0.5'], 'the young one is kept');
  t.same(young, [now - 1_000 + GRACE + 1], 'and the end of its grace is reported');
});

t.test('the scheduler runs again when a run reports a grace end, before the periodic run', async (t) => {
  const reasons: string[] = [];
  const scheduler = new ReconcileScheduler(async (reason) => {
    reasons.push(reason);
    return { recheckAt: reasons.length === 1 ? Date.now() + 100 : undefined };
  }, log, { everyMs: 60_000, retryMs: { initial: 1_000, max: 1_000 } });
  t.teardown(() => scheduler.close());
  await scheduler.trigger('start');
  await new Promise((r) => setTimeout(r, 400));
  t.same(reasons, ['start', 'grace ended'], 'one more run at the grace end, and no more');

  scheduler.recheckAt(Date.now() + 120_000);
  await new Promise((r) => setTimeout(r, 100));
  t.same(reasons, ['start', 'grace ended'], 'a grace end after the periodic run is left to it');
});
