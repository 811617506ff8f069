// A read-only snapshot of OVS in one transaction: what `ovsvlan status` and
// `ovsvlan doctor` compare with the records. The daemon never uses it on a
// request path.
import { select } from '../ovsdb/ops.js';
import { fromOvsMap, fromOvsSet, uuidOf, type Row, type Uuid } from '../ovsdb/notation.js';
import { OWNER_KEY, OWNER_VALUE } from '../names.js';
import type { DatapathType, Transactor } from './vswitch.js';

export interface InventoryBridge {
  name: string;
  datapath: DatapathType;
  /** Created by ovsvlan. */
  ours: boolean;
  ports: string[];
}

export interface InventoryPort {
  name: string;
  bridge: string | undefined;
  tag: number | undefined;
  trunks: number[];
  vlanMode: string | undefined;
  externalIds: Record<string, string>;
  /** the interface of the same name: type ('' = system), options, MTU as OVS reports it */
  type: string;
  options: Record<string, string>;
  mtu: number | undefined;
  /** OVS could not open the interface (e.g. "could not open network device X (No such device)") */
  error: string | undefined;
}

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

export async function readInventory(db: Pick<Transactor, 'transact'>): Promise<Inventory> {
  const [root, bridges, ports, ifaces] = await db.transact([
    select('Open_vSwitch', [], ['ovs_version', 'db_version', 'cur_cfg', 'next_cfg', 'datapath_types']),
    select('Bridge', [], ['name', 'datapath_type', 'external_ids', 'ports']),
    select('Port', [], ['_uuid', 'name', 'tag', 'trunks', 'vlan_mode', 'external_ids']),
    select('Interface', [], ['name', 'type', 'options', 'mtu', 'error']),
  ]);
  const portRows = ports?.rows ?? [];
  const nameOf = new Map(portRows.map((r) => [uuidOf(r['_uuid'] as Uuid), String(r['name'])]));
  const bridgeOf = new Map<string, string>();
  const bridgeList = (bridges?.rows ?? []).map((b): InventoryBridge => {
    const names = fromOvsSet<Uuid>(b['ports']).map((u) => nameOf.get(uuidOf(u)) ?? '?');
    for (const n of names) bridgeOf.set(n, String(b['name']));
    return {
      name: String(b['name']),
      datapath: b['datapath_type'] === 'netdev' ? 'netdev' : 'system',
      ours: fromOvsMap(b['external_ids'])[OWNER_KEY] === OWNER_VALUE,
      ports: names,
    };
  });
  const ifaceOf = new Map((ifaces?.rows ?? []).map((r): [string, Row] => [String(r['name']), r]));
  const portMap = new Map<string, InventoryPort>();
  for (const r of portRows) {
    const name = String(r['name']);
    const iface = ifaceOf.get(name);
    portMap.set(name, {
      name,
      bridge: bridgeOf.get(name),
      tag: fromOvsSet<number>(r['tag'])[0],
      trunks: fromOvsSet<number>(r['trunks']),
      vlanMode: fromOvsSet<string>(r['vlan_mode'])[0],
      externalIds: fromOvsMap(r['external_ids']),
      type: String(iface?.['type'] ?? ''),
      options: fromOvsMap(iface?.['options']),
      mtu: fromOvsSet<number>(iface?.['mtu'])[0],
      error: fromOvsSet<string>(iface?.['error'])[0],
    });
  }
  const rootRow = root?.rows?.[0];
  return {
    ovsVersion: fromOvsSet<string>(rootRow?.['ovs_version'])[0],
    dbVersion: fromOvsSet<string>(rootRow?.['db_version'])[0],
    curCfg: typeof rootRow?.['cur_cfg'] === 'number' ? rootRow['cur_cfg'] : undefined,
    nextCfg: typeof rootRow?.['next_cfg'] === 'number' ? rootRow['next_cfg'] : undefined,
    datapathTypes: fromOvsSet<string>(rootRow?.['datapath_types']),
    bridges: bridgeList,
    ports: portMap,
  };
}
