// The datapath of a bridge, spelled here once: what OVS calls it in
// Bridge.datapath_type, and which one new bridges use. `auto` picks the kernel
// datapath when the openvswitch module is loaded, and the userspace (netdev)
// one otherwise.
import { access } from 'node:fs/promises';

/** Kernel (`system`) or userspace (`netdev`) datapath. */
export type DatapathType = 'system' | 'netdev';

/** A datapath setting: one of the two, or `auto`. */
export type DatapathSetting = DatapathType | 'auto';

/** Called at daemon start: the datapath that the setting means on this machine. */
export async function resolveDatapath(setting: DatapathSetting, moduleDir = '/sys/module/openvswitch'): Promise<DatapathType> {
  if (setting !== 'auto') return setting;
  try {
    await access(moduleDir);
    return 'system';
  } catch {
    return 'netdev';
  }
}

/** A Bridge row's datapath_type as a DatapathType (OVS's empty default is the kernel one). */
export function asDatapath(v: unknown): DatapathType {
  return v === 'netdev' ? 'netdev' : 'system';
}
