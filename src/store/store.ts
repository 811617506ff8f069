// Persistence behind a small interface, so that a distributed store can
// replace the embedded file store later.
import type { State } from './records.js';

export interface Store {
  /** Reads the last saved state (an empty one on first start). Throws StoreError when it cannot be trusted. */
  load(): Promise<State>;
  /** Replaces the saved state atomically: after a crash at any instant, load() returns the old or the new state. */
  save(state: State): Promise<void>;
}
