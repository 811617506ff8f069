// Persistence behind a small interface, so that a distributed store can
// replace the embedded file store later.
import type { Change } from './changes.js';
import type { State } from './records.js';

export interface Store {
  /** Reads the last saved state (an empty one on first start). Throws StoreError when it cannot be trusted. */
  load(): Promise<State>;
  /**
   * Saves one batch of changes durably (a crash after it resolves loads them),
   * one at a time; resolves to the batch's sequence number (state.seq once
   * applied). A rejected batch is never loaded.
   */
  append(changes: readonly Change[]): Promise<number>;
  /** Called after each batch is applied, with the state holding it: may save it whole in the background. Never throws. */
  maybeCompact(state: State): void;
}
