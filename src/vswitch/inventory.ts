// A read-only snapshot of OVS from the client's cache: what `ovsvlan status`
// and `ovsvlan doctor` compare with the records. The daemon never uses it on a
// request path.
import { fromOvsSet } from '../ovsdb/notation.js';
import { readBridges, readPorts } from './reads.js';
import type { DatapathType, PortInfo, Transactor } from './vswitch.js';

export interface InventoryBridge {
  name: string;
  datapath: DatapathType;
  /** Created by ovsvlan. */
  ours: boolean;
  ports: string[];
}

/** A port as the inventory shows it: a PortInfo without the split-horizon flag. */
export type InventoryPort = Omit<PortInfo, 'protected'>;

export interface Inventory {
  ovsVersion: string | undefined;
  dbVersion: string | undefined;
  /** ovs-vswitchd has applied the database up to cur_cfg; next_cfg is the last change asked for */
  curCfg: number | undefined;
  nextCfg: number | undefined;
  /** datapath types ovs-vswitchd supports (it writes them at start; empty before it ever ran) */
  datapathTypes: string[];
  bridges: InventoryBridge[];
  ports: Map<string, InventoryPort>;
}

/** Called by `ovsvlan status` and `ovsvlan doctor`: every bridge and port, from the client's cache. */
export async function readInventory(db: Pick<Transactor, 'view'>): Promise<Inventory> {
  const view = await db.view();
  const root = view.rows('Open_vSwitch').values().next().value;
  const ports = new Map<string, InventoryPort>();
  for (const { protected: _, ...p } of readPorts(view, true)) ports.set(p.name, p);
  return {
    ovsVersion: fromOvsSet<string>(root?.['ovs_version'])[0],
    dbVersion: fromOvsSet<string>(root?.['db_version'])[0],
    curCfg: typeof root?.['cur_cfg'] === 'number' ? root['cur_cfg'] : undefined,
    nextCfg: typeof root?.['next_cfg'] === 'number' ? root['next_cfg'] : undefined,
    datapathTypes: fromOvsSet<string>(root?.['datapath_types']),
    bridges: readBridges(view).map((b) => ({ name: b.name, datapath: b.datapath, ours: b.ours, ports: b.portNames })),
    ports,
  };
}
