// What every data-plane operation works with: the records, OVS, the locks
// shared with the request handlers, and a log. Built once by the daemon.
import type { Logger } from 'pino';
import type { KeyedMutex } from '../lock.js';
import type { StateCache } from '../store/state.js';
import type { Vswitch } from '../vswitch/vswitch.js';

export interface DataplaneContext {
  readonly state: StateCache;
  readonly vswitch: Vswitch;
  readonly locks: KeyedMutex;
  readonly log: Logger;
}
