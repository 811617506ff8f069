// Loops whose length the caller controls (pools held, leases in a pool) must
// not hold the event loop: every other request, Plugin.Activate included,
// waits while they run. Such a loop asks `due` on each turn and, when its
// slice is used up, awaits `pause()`, which lets the event loop run once.
// Only inside a lock: what the loop reads may change across a pause otherwise.
import { setImmediate as nextTurn } from 'node:timers/promises';

/** How long a loop may run before it lets other work in. */
export const SLICE_MS = 2;

export class TimeSlice {
  #since = performance.now();

  /** True once this slice has run for SLICE_MS. */
  get due(): boolean {
    return performance.now() - this.#since >= SLICE_MS;
  }

  /** Lets queued I/O and timers run, then starts a new slice. */
  async pause(): Promise<void> {
    await nextTurn();
    this.#since = performance.now();
  }
}
