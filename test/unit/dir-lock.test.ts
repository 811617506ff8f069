// The state directory lock on its own (a temporary directory, no root): of
// contenders starting at once at most one holds it and the others name the
// holder; a dead holder's claim (a socket nothing listens on) is removed and
// reported; a released lock can be taken again; every half-written save
// (NAME.tmp-PID) is removed when the lock is taken, one with our PID too.
import t from 'tap';
import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockStateDir, type StateDirLock } from '../../src/store/dir-lock.js';

const dir = await mkdtemp(join(tmpdir(), 'ovsvlan-lock-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test('contenders at once: at most one holds the directory, the others name it', async (t) => {
  const tries = await Promise.allSettled(Array.from({ length: 8 }, () => lockStateDir(dir)));
  const held = tries.filter((r): r is PromiseFulfilledResult<StateDirLock> => r.status === 'fulfilled').map((r) => r.value);
  t.ok(held.length <= 1, `at most one holder (${held.length})`);
  for (const r of tries) {
    if (r.status === 'rejected') t.match((r.reason as Error).message, `in use by another ovsvlan daemon, PID ${process.pid}`, 'a contender that lost names the holder');
  }
  for (const h of held) await h.release();
  const again = await lockStateDir(dir);
  t.same(await readdir(join(dir, 'lock.d')), [again.claim.split('/').pop()], 'once released, it is taken again; only its claim is there');
  await t.rejects(lockStateDir(dir), new RegExp(`state directory ${dir} is in use by another ovsvlan daemon, PID ${process.pid}, running since`));
  await again.release();
  t.same(await readdir(join(dir, 'lock.d')), [], 'release withdraws the claim');
});

t.test('a dead holder\'s claim is removed and reported', async (t) => {
  // what a daemon killed by SIGKILL leaves: its socket file, nothing listening
  const s = createServer();
  await new Promise<void>((r) => s.listen(join(dir, 'lock.d', '.making'), r));
  await rename(join(dir, 'lock.d', '.making'), join(dir, 'lock.d', '4242.deadbeef'));
  await new Promise<void>((r) => s.close(() => r()));
  const lock = await lockStateDir(dir);
  t.same(lock.removed.staleClaims, ['4242.deadbeef']);
  t.same(await readdir(join(dir, 'lock.d')), [lock.claim.split('/').pop()]);
  await lock.release();
});

t.test('half-written saves of a dead daemon are removed, also one with this daemon\'s PID (a managed plugin is PID 1 at every start)', async (t) => {
  const own = `state.journal.tmp-${process.pid}`;
  const left = ['state.json.tmp-1', own, 'state.json.tmp-4242'];
  for (const name of [...left, 'notes.tmp-x', 'state.json']) await writeFile(join(dir, name), 'half written');
  const lock = await lockStateDir(dir);
  t.same([...lock.removed.tempFiles].sort(), [...left].sort(), 'every NAME.tmp-PID is reported removed');
  const now = await readdir(dir);
  t.same(left.filter((n) => now.includes(n)), [], 'none is left, the one with our PID included');
  t.ok(now.includes('notes.tmp-x') && now.includes('state.json'), 'other files are left alone');
  await lock.release();
  for (const n of ['notes.tmp-x', 'state.json']) await rm(join(dir, n));
});

t.test('a state directory that is a file is refused naming it and why', async (t) => {
  const file = join(dir, 'not-a-dir');
  await writeFile(file, '');
  await t.rejects(lockStateDir(file), new RegExp(`^cannot use state directory ${file}: ENOTDIR: not a directory`));
  await rm(file);
});
