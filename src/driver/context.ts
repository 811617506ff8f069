// What every driver phase works with. Built once by the daemon.
import type { Logger } from 'pino';
import type { Datapath } from '../config.js';
import type { Vswitch } from '../vswitch/vswitch.js';
import type { StateCache } from '../store/state.js';
import type { KeyedMutex } from '../lock.js';

export interface DriverContext {
  readonly state: StateCache;
  readonly vswitch: Vswitch;
  readonly locks: KeyedMutex;
  readonly log: Logger;
  /** OVSVLAN_BRIDGE: the bridge of networks that name none. */
  readonly defaultBridge: string;
  /** OVSVLAN_DATAPATH, resolved: the datapath of bridges ovsvlan creates. */
  readonly datapath: Exclude<Datapath, 'auto'>;
}
