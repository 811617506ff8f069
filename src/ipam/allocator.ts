// Picking addresses inside a pool (pure). The search starts after the last
// address handed out, so a crash-looping container does not get the same
// address back until the whole range has been used once, and it visits at
// most (addresses taken + 1) candidates, so it always ends. A pool may hold
// tens of thousands of leases: the search yields the event loop between
// slices (see timeslice.ts), and asks whether an address is taken instead of
// having every lease parsed first.
import type { Prefix } from './address.js';
import { TimeSlice } from '../timeslice.js';

export interface AllocationView {
  /** Where addresses are handed out from: --ip-range, or the whole subnet. */
  range: Prefix;
  /** True for an address that is leased or reserved. */
  isTaken(address: bigint): boolean;
  /**
   * How many addresses are leased or reserved (a bound: they need not all be
   * in the range). Asked only once a candidate is taken: counting a pool's
   * leases costs ~18 ms at 65,536 of them, and the next address is usually free.
   */
  takenCount(): number;
  /** The last address handed out (search starts after it). */
  last: bigint | undefined;
}

/** The next free address, or undefined when the range is full. */
export async function nextFree(v: AllocationView): Promise<bigint | undefined> {
  const { first, last } = v.range;
  const size = last - first + 1n;
  let candidate = v.last !== undefined && v.last >= first && v.last < last ? v.last + 1n : first;
  const slice = new TimeSlice();
  // every taken address inside the range can be skipped once; one more step finds a free one or proves none.
  let budget: bigint | undefined;
  for (let step = 0n; step < size && budget !== 0n; step++) {
    if (slice.due) await slice.pause();
    if (!v.isTaken(candidate)) return candidate;
    budget = (budget ?? BigInt(v.takenCount()) + 1n) - 1n;
    candidate = candidate === last ? first : candidate + 1n;
  }
  return undefined;
}
