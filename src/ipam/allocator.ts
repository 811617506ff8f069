// Picking addresses inside a pool (pure). The search starts after the last
// address handed out, so a crash-looping container does not get the same
// address back until the whole range has been used once, and it visits at
// most (addresses in use + 1) candidates, so it always ends.
import type { Prefix } from './address.js';

export interface AllocationView {
  /** Where addresses are handed out from: --ip-range, or the whole subnet. */
  range: Prefix;
  /** Addresses that are taken or reserved. */
  taken: ReadonlySet<bigint>;
  /** The last address handed out (search starts after it). */
  last: bigint | undefined;
}

/** The next free address, or undefined when the range is full. */
export function nextFree(v: AllocationView): bigint | undefined {
  const { first, last } = v.range;
  const size = last - first + 1n;
  let candidate = v.last !== undefined && v.last >= first && v.last < last ? v.last + 1n : first;
  // every taken address inside the range can be skipped once; one more step finds a free one or proves none.
  let budget = BigInt(v.taken.size) + 1n;
  for (let step = 0n; step < size && budget > 0n; step++) {
    if (!v.taken.has(candidate)) return candidate;
    budget--;
    candidate = candidate === last ? first : candidate + 1n;
  }
  return undefined;
}
