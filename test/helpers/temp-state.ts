// A StateCache on a FileStore in a fresh per-run temporary directory, closed
// and removed when the test ends: for tests of the logic above the records.
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/store/file-store.js';
import { StateCache } from '../../src/store/state.js';
import { RUN_PREFIX } from './run.js';

/** A loaded, empty StateCache whose directory (named `${RUN_PREFIX}-${name}-…`) goes with the test `t`. */
export async function tempState(t: Test, name: string): Promise<StateCache> {
  const dir = await mkdtemp(join(tmpdir(), `${RUN_PREFIX}-${name}-`));
  const store = new FileStore(dir);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const state = new StateCache(store);
  await state.load();
  return state;
}
