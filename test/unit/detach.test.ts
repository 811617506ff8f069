// Background detach (src/dataplane/detach.ts): every endpoint queued is
// taken away, even one queued in the moment after a run's last look at the
// queue and before the run is over; idle() and settled() resolve only once
// it is. The port removal is a fake; the veths' names exist nowhere, so the
// real link lookups find nothing to delete.
import t from 'tap';
import { Detacher } from '../../src/dataplane/detach.js';
import type { DataplaneContext } from '../../src/dataplane/context.js';
import { hasMarks, portExternalIds, spareExternalIds } from '../../src/names.js';
import type { EndpointRecord } from '../../src/store/records.js';

const NET = 'a'.repeat(64);
const ep = (n: number): EndpointRecord => ({
  id: n.toString(16).padStart(64, 'e'), networkId: NET, hostIf: `ovhzz${n.toString().padStart(10, '0')}`,
  containerIf: `ovczz${n.toString().padStart(10, '0')}`, addressV4: undefined, addressV6: undefined, createdAt: 0,
});

/**
 * A context whose OVS holds `ports` (name → external_ids) and removes, as
 * Vswitch.detachPorts does, each one named whose external_ids carry the marks
 * given with it; `onBatchDone` runs as a batch ends (its last log line).
 */
function fakeContext(onBatchDone: () => void, ports = new Map<string, Record<string, string>>()): { ctx: DataplaneContext; removed: string[] } {
  const removed: string[] = [];
  const noop = (): void => undefined;
  const detachPorts = async (wanted: Array<{ name: string; marks: Record<string, string> }>): Promise<void> => {
    for (const { name, marks } of wanted) {
      const ids = ports.get(name);
      if (ids && hasMarks(ids, marks)) {
        ports.delete(name);
        removed.push(name);
      }
    }
  };
  const ctx = {
    state: { endpointsByLink: () => [] },
    vswitch: { detachPorts },
    locks: undefined,
    log: { debug: onBatchDone, error: noop, warn: noop, info: noop },
  } as unknown as DataplaneContext;
  return { ctx, removed };
}

t.test('an endpoint queued as a run ends is taken away too, and idle() waits for it', async (t) => {
  // the window between the run's last look and its end is a few microtasks long: try each offset
  for (let delay = 0; delay <= 12; delay++) {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let batches = 0;
    const [a, b] = [ep(2 * delay), ep(2 * delay + 1)];
    const { ctx, removed } = fakeContext(() => {
      if (batches++ > 0) return;
      let p = Promise.resolve();
      for (let i = 0; i < delay; i++) p = p.then(() => undefined);
      void p.then(open);
    }, new Map([a, b].map((e) => [e.hostIf, portExternalIds(NET, e.id)])));
    const d = new Detacher(ctx);
    d.enqueue(a, true);
    d.enqueue(b, true, gate); // queued once the first batch is done
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref());
    t.not(await Promise.race([d.idle().then(() => 'idle'), timeout]), 'timeout', `idle() resolves (offset ${delay})`);
    t.same(removed, [a.hostIf, b.hostIf], `both ports removed before idle() resolved (offset ${delay})`);
    await d.settled(b.id);
  }
});

t.test('settled(id) resolves once that endpoint\'s batch is done', async (t) => {
  const a = ep(100);
  const { ctx, removed } = fakeContext(() => undefined, new Map([[a.hostIf, portExternalIds(NET, a.id)]]));
  const d = new Detacher(ctx);
  d.enqueue(a, true);
  await d.settled(a.id);
  t.same(removed, [a.hostIf]);
});

t.test('a spare handed out whose re-mark failed: its port goes with its endpoint, still marked spare', async (t) => {
  const [mine, unknown, other] = [ep(200), ep(201), ep(202)];
  const ports = new Map([
    [mine.hostIf, spareExternalIds(NET)], // re-mark failed: still the network's spare mark
    [unknown.hostIf, spareExternalIds(NET)], // no record named it: a spare of the pool, not this endpoint's
    [other.hostIf, portExternalIds(NET, 'f'.repeat(64))], // another endpoint's
  ]);
  const { ctx, removed } = fakeContext(() => undefined, ports);
  const d = new Detacher(ctx);
  d.enqueue(mine, true);
  d.enqueue(unknown, false);
  d.enqueue(other, true);
  await d.idle();
  t.same(removed, [mine.hostIf], 'only the recorded endpoint\'s port, by its spare marks');
  t.ok(ports.has(unknown.hostIf) && ports.has(other.hostIf), 'a spare no record named and another endpoint\'s port stay');
});

t.test('idle(network) waits for that network\'s endpoints only, not for another network\'s removal under way', async (t) => {
  const theirs = { ...ep(300), networkId: 'b'.repeat(64) };
  const mine = ep(301);
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const { ctx } = fakeContext(() => undefined);
  const removed: string[] = [];
  (ctx.vswitch as unknown as { detachPorts: unknown }).detachPorts = async (ports: Array<{ name: string }>) => {
    if (ports.some((p) => p.name === theirs.hostIf)) await blocked; // the other network's batch hangs (a busy ovs-vswitchd)
    removed.push(...new Set(ports.map((p) => p.name)));
  };
  const d = new Detacher(ctx);
  d.enqueue(mine, true);
  await d.idle(mine.networkId);
  t.same(removed, [mine.hostIf], 'its own endpoint waited for');
  d.enqueue(theirs, true);
  const later = (ms: number): Promise<string> => new Promise((resolve) => setTimeout(() => resolve('pending'), ms));
  t.equal(await Promise.race([d.idle(mine.networkId).then(() => 'idle'), later(1000)]), 'idle', 'the other network\'s removal is not waited for');
  t.equal(await Promise.race([d.idle().then(() => 'idle'), later(100)]), 'pending', 'idle() with no network waits for everything');
  release();
  await d.idle();
  t.same(removed, [mine.hostIf, theirs.hostIf]);
});
