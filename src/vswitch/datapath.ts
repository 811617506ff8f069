// Which datapath new bridges use. `auto` picks the kernel datapath when the
// openvswitch module is loaded, and the userspace (netdev) one otherwise.
import { access } from 'node:fs/promises';
import type { Datapath } from '../config.js';
import type { DatapathType } from './vswitch.js';

export async function resolveDatapath(setting: Datapath, moduleDir = '/sys/module/openvswitch'): Promise<DatapathType> {
  if (setting !== 'auto') return setting;
  try {
    await access(moduleDir);
    return 'system';
  } catch {
    return 'netdev';
  }
}
