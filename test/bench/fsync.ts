// A probe of what every state change in ovsvlan waits on before Docker gets its answer: one
// journal-sized append and its fdatasync, on the filesystem of the daemon's state directory.
import { open, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

/** A journal line of one CreateEndpoint (record and address claim): about this long. */
const LINE = `${'x'.repeat(400)}\n`;

/**
 * Appends `n` lines to a scratch file in `dir`, each followed by fdatasync as the journal does,
 * and returns each append+sync's duration (ms); the file is removed after. Called by the ovsvlan
 * phase after each window, so the figure is taken under the same load as the attaches.
 */
export async function fsyncProbe(dir: string, n: number): Promise<number[]> {
  const path = `${dir}/bench-fsync-probe`;
  const file = await open(path, 'a');
  const took: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await file.appendFile(LINE);
      await file.datasync();
      took.push(performance.now() - t0);
    }
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
  return took;
}
