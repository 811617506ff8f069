// The file store in a real temporary directory: the journal replayed after
// the snapshot, N concurrent changes in one journal line, a torn last line
// ignored and cut off, a failed append (written whole or in part, cut back or
// not) never replayed even when the next batch succeeds, compaction's every
// crash point loading the same state, and a version-3 state.json alone
// loading as before. Failures are made by patching FileHandle's methods.
import t from 'tap';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/store/file-store.js';
import { encodeLine, readSavedState } from '../../src/store/journal.js';
import type { EndpointRecord, PoolRecord, State } from '../../src/store/records.js';
import { StateCache } from '../../src/store/state.js';

const root = await mkdtemp(join(tmpdir(), 'ovsvlan-store-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = async (): Promise<string> => {
  const d = join(root, `d${++dirs}`);
  await mkdir(d);
  return d;
};

const ep = (id: string): EndpointRecord =>
  ({ id, networkId: 'n1', hostIf: `ovh${id}`, containerIf: `ovc${id}`, addressV4: undefined, addressV6: undefined, createdAt: 1 });
const pool = (id: string): PoolRecord => ({ id, addressSpace: 'ovsvlan-local', v6: false, pool: '10.0.0.0/16', subPool: undefined,
  networkId: undefined, auto: false, lastAllocated: undefined, createdAt: 1, leases: {} });

async function opened(dir: string, compactAfterBytes?: number): Promise<{ store: FileStore; state: StateCache; errors: Error[] }> {
  const errors: Error[] = [];
  const store = new FileStore(dir, { compactAfterBytes, onCompactionError: (e) => errors.push(e) });
  const state = new StateCache(store);
  await state.load();
  return { store, state, errors };
}
const journalLines = async (dir: string): Promise<string[]> => (await readFile(join(dir, 'state.journal'), 'utf8')).split('\n').filter(Boolean);
/** What a state holds, comparable across loads: endpoint IDs, and each pool's leases and lastAllocated. */
interface Summary { seq: number; endpoints: string[]; pools: object }
const summary = (s: State): Summary => ({
  seq: s.seq,
  endpoints: Object.keys(s.endpoints).sort(),
  pools: Object.fromEntries(Object.values(s.pools).map((p) => [p.id, { last: p.lastAllocated, leases: Object.keys(p.leases).sort() }])),
});

/** Patches a FileHandle method for the length of fn (every handle of the process). */
async function withPatched<K extends 'datasync' | 'truncate' | 'writeFile'>(name: K, impl: (orig: Function) => Function, fn: () => Promise<void>): Promise<void> {
  const probe = await open(join(root, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as Record<string, Function>;
  await probe.close();
  const orig = proto[name]!;
  proto[name] = impl(orig);
  try {
    await fn();
  } finally {
    proto[name] = orig;
  }
}
const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

t.test('changes are replayed from the journal; concurrent changes share one line (one fdatasync)', async (t) => {
  const dir = await freshDir();
  const { store, state } = await opened(dir);
  await state.putPool(pool('p'));
  await Promise.all(Array.from({ length: 20 }, (_, i) => state.putEndpoint(ep(`e${i}`))));
  t.equal((await journalLines(dir)).length, 2, '21 changes, 2 appends: the 20 concurrent ones share one');
  await state.changeLeases('p', { '10.0.0.5': { kind: 'pending', at: 1 } }, { lastAllocated: '10.0.0.5' });
  const lines = await journalLines(dir);
  t.equal(lines.length, 3);
  t.notMatch(lines[2], /ovhe1/, 'the lease change line holds the lease, nothing else');
  await store.close();
  const again = await readSavedState(dir);
  t.same(summary(again), { seq: 3, endpoints: Array.from({ length: 20 }, (_, i) => `e${i}`).sort(), pools: { p: { last: '10.0.0.5', leases: ['10.0.0.5'] } } });
  t.notOk((await readdir(dir)).includes('state.json'), 'no snapshot yet: nothing was rewritten whole');
});

t.test('a torn last line is ignored, and cut off before the next append', async (t) => {
  const dir = await freshDir();
  const first = await opened(dir);
  await first.state.putEndpoint(ep('a'));
  await first.store.close();
  const whole = await readFile(join(dir, 'state.journal'), 'utf8');
  for (const torn of [whole.slice(0, 40), whole.replace('ovha', 'ovhX')]) { // cut short; whole but its checksum fails
    await writeFile(join(dir, 'state.journal'), whole + torn);
    t.same(summary(await readSavedState(dir)).endpoints, ['a'], 'read: the torn line is ignored');
  }
  const second = await opened(dir);
  t.equal(await readFile(join(dir, 'state.journal'), 'utf8'), whole, 'the daemon cuts it off at load');
  await second.state.putEndpoint(ep('b'));
  await second.store.close();
  t.same(summary(await readSavedState(dir)).endpoints, ['a', 'b'], 'the next append is read');

  await writeFile(join(dir, 'state.journal'), (await readFile(join(dir, 'state.journal'), 'utf8')).replace('ovha', 'ovhX'));
  await t.rejects(readSavedState(dir), /line 1 is damaged, and whole lines follow it/, 'damage in the middle: the state cannot be trusted');
});

t.test('a failed append is never replayed, even when the next batch succeeds', async (t) => {
  const dir = await freshDir();
  const { store, state } = await opened(dir);
  await state.putEndpoint(ep('kept'));
  const attempts: Array<[string, () => Promise<void>]> = [
    ['written whole, fdatasync failed, cut back', () => withPatched('datasync', () => async () => { throw enospc(); }, async () => {
      await t.rejects(state.putEndpoint(ep('ghost1')), /cannot save .*state\.journal: ENOSPC: no space left on device/, 'the error names the file and why');
    })],
    ['written in part (a full disk)', () => withPatched('writeFile', () => async function (this: { write(b: Buffer): Promise<unknown> }, data: Buffer) {
      await this.write(data.subarray(0, data.length >> 1));
      throw enospc();
    }, async () => {
      await t.rejects(state.putEndpoint(ep('ghost2')), /cannot save/);
    })],
    ['written whole, fdatasync failed and so did the cut: the journal is rewritten from its whole lines at once', () =>
      withPatched('truncate', () => async () => { throw enospc(); }, () => withPatched('datasync', (orig) => {
        let failed = false;
        return async function (this: unknown) {
          if (failed) return orig.call(this);
          failed = true;
          throw enospc();
        };
      }, async () => {
        await t.rejects(state.putEndpoint(ep('ghost3')), /cannot save/);
      }))],
    ['written whole, fdatasync, the cut and the rewrite failed (a dying disk): the journal is rewritten before the next append', () =>
      withPatched('truncate', () => async () => { throw enospc(); }, () => withPatched('datasync', () => async () => { throw enospc(); }, async () => {
        await t.rejects(state.putEndpoint(ep('ghost4')), /cannot save/);
      }))],
  ];
  for (const [what, attempt] of attempts) {
    await attempt();
    t.notOk(state.endpoints().some((e) => e.id.startsWith('ghost')), `${what}: not seen by the daemon`);
    if (!what.includes('dying')) t.equal(state.endpoints().length, Object.keys((await readSavedState(dir)).endpoints).length, `${what}: not on disk`);
    await state.putEndpoint(ep(`after-${state.endpoints().length}`));
    t.notOk(Object.keys((await readSavedState(dir)).endpoints).some((id) => id.startsWith('ghost')), `${what}: not replayed after the next batch`);
  }
  await store.close();
  t.same(summary(await readSavedState(dir)).endpoints, ['after-1', 'after-2', 'after-3', 'after-4', 'kept']);
  t.same((await readdir(dir)).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
});

t.test('compaction: every crash point loads the same state; lines made meanwhile are kept', async (t) => {
  const dir = await freshDir();
  const copy = async (from: string): Promise<Map<string, string>> =>
    new Map(await Promise.all((await readdir(from)).filter((f) => f.startsWith('state.')).map(async (f): Promise<[string, string]> => [f, await readFile(join(from, f), 'utf8')])));
  const { store, state } = await opened(dir, 2048);
  await state.putPool(pool('p'));
  for (let i = 0; i < 30 && !(await readdir(dir)).includes('state.json'); i++) {
    await state.changeLeases('p', { [`10.0.0.${i}`]: { kind: 'pending', at: i } });
  }
  await store.close(); // waits for the first compaction
  const first = await readSavedState(dir);
  t.ok((await readdir(dir)).includes('state.json') && first.seq > 1, `a first compaction ran at seq ${first.seq}`);
  const more = await opened(dir, 1 << 20);
  for (let i = 0; i < 40; i++) await more.state.changeLeases('p', { [`10.0.1.${i}`]: { kind: 'pending', at: i } }, { lastAllocated: `10.0.1.${i}` });
  await more.state.putEndpoint(ep('last'));
  await more.store.close();
  const before = await copy(dir); // snapshot at S, journal up to K
  const final = await opened(dir, 1); // compacts after its first append, K + 1
  await final.state.putEndpoint(ep('trigger'));
  await final.store.close();
  const after = await copy(dir);
  const finalState = summary(await readSavedState(dir));
  t.equal((await journalLines(dir)).length, 0, 'after compaction the journal is empty');
  // the journal as it was when the compaction began: its line K + 1 was appended first
  const oldJournal = `${before.get('state.journal')}${encodeLine(finalState.seq, [{ op: 'put', kind: 'endpoints', record: ep('trigger') }])}`;

  const crashes: Array<[string, Record<string, string | undefined>]> = [
    ['before the snapshot is renamed: half a temp file', { ...Object.fromEntries(before), 'state.journal': oldJournal, 'state.json.tmp-1': after.get('state.json')!.slice(0, 100) }],
    ['before the snapshot is renamed: a whole temp file', { ...Object.fromEntries(before), 'state.journal': oldJournal, 'state.json.tmp-1': after.get('state.json') }],
    ['snapshot renamed, journal not yet rewritten', { 'state.json': after.get('state.json'), 'state.journal': oldJournal }],
    ['journal temp file written, not renamed', { 'state.json': after.get('state.json'), 'state.journal': oldJournal, 'state.journal.tmp-1': after.get('state.journal') }],
    ['done', Object.fromEntries(after)],
  ];
  for (const [step, files] of crashes) {
    const d = await freshDir();
    for (const [f, text] of Object.entries(files)) await writeFile(join(d, f), text ?? '');
    t.same(summary(await readSavedState(d)), finalState, `crash ${step}: the state loads whole`);
    const reopened = await opened(d);
    t.same(summary(await readSavedState(d)), finalState, `crash ${step}: and the daemon opens it`);
    await reopened.store.close();
  }
});

t.test('a compaction while changes keep coming: the new journal holds the lines after the snapshot', async (t) => {
  const dir = await freshDir();
  const { store, state, errors } = await opened(dir, 2048);
  await state.putPool(pool('p'));
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 300; i++) {
    all.push(state.changeLeases('p', { [`10.0.${i >> 8}.${i & 255}`]: { kind: 'pending', at: i } }));
    if (i % 7 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(all);
  await store.close();
  t.same(errors, []);
  const saved = await readSavedState(dir);
  t.equal(Object.keys(saved.pools['p']!.leases).length, 300, 'every lease is there');
  const snapshotSeq = (JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as State).seq;
  const seqs = (await journalLines(dir)).map((l) => (JSON.parse(l.slice(l.indexOf(' ') + 1)) as { seq: number }).seq);
  t.ok(seqs.every((s, i) => s === snapshotSeq + 1 + i), `the journal goes on from the snapshot's seq ${snapshotSeq}: ${seqs.length} lines`);
});

t.test('a version-3 state.json alone loads as before, and is rewritten as version 4 by the daemon', async (t) => {
  const dir = await freshDir();
  const v3 = { version: 3, networks: {}, endpoints: { e: ep('e') }, pools: { p: { ...pool('p'), leases: { '10.0.0.7': { kind: 'endpoint', endpointId: 'e', at: 1 } } } } };
  await writeFile(join(dir, 'state.json'), JSON.stringify(v3, null, 1));
  t.same(summary(await readSavedState(dir)), { seq: 0, endpoints: ['e'], pools: { p: { last: undefined, leases: ['10.0.0.7'] } } }, 'read as it was');
  const { store, state } = await opened(dir);
  t.equal((JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as State).version, 4, 'the daemon writes it anew: an older daemon refuses it rather than miss the journal');
  await state.putEndpoint(ep('f'));
  await store.close();
  t.same(summary(await readSavedState(dir)).endpoints, ['e', 'f']);
});

t.test('a compaction never carries what a journal temp file of our PID held (a dead daemon\'s, not removed) into the journal', async (t) => {
  const dir = await freshDir();
  // what a daemon killed in the middle of a journal rewrite leaves, found by one with the same PID
  await writeFile(join(dir, `state.journal.tmp-${process.pid}`), `12 {"seq":999,"garbage":true}\n{"torn`);
  const { store, state, errors } = await opened(dir, 512);
  await state.putPool(pool('p'));
  let n = 0;
  // changes until the first compaction begins, then one more while it runs: the journal it writes keeps that line
  while (!(await readdir(dir)).includes('state.json') && n < 200) await state.changeLeases('p', { [`10.0.${n >> 8}.${n++ & 255}`]: { kind: 'pending', at: n } });
  await store.close();
  t.same(errors, [], 'the compaction succeeded');
  t.ok(n < 200, `a compaction ran after ${n} changes`);
  t.notMatch(await readFile(join(dir, 'state.journal'), 'utf8'), /garbage|torn/, 'the journal holds nothing of the old temp file');
  const saved = await readSavedState(dir);
  t.equal(Object.keys(saved.pools['p']!.leases).length, n, 'every lease loads back');
});
