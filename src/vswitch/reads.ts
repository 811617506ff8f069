// Bridges and ports as ovsvlan sees them, read from the OVSDB client's cache
// (OvsdbView): no transaction, no scan of the database per call. Pure
// functions of the view; Vswitch and inventory.ts are their callers.
import type { OvsdbView } from '../ovsdb/cache.js';
import { fromOvsMap, fromOvsSet, uuidOf, type Row, type Uuid } from '../ovsdb/notation.js';
import { OWNER_KEY, OWNER_VALUE } from '../names.js';
import { asDatapath } from './datapath.js';
import type { BridgeInfo, PortInfo } from './types.js';

/** A Port row found by name: its identity and marks, and the bridge that holds it. */
export interface FoundPort {
  uuid: Uuid;
  externalIds: Record<string, string>;
  bridge: string | undefined;
}

/** The bridge, with the names of its ports; undefined when OVS has no bridge of that name. */
export function readBridge(view: OvsdbView, name: string): BridgeInfo | undefined {
  const u = view.uuidByName('Bridge', name);
  const row = u === undefined ? undefined : view.row('Bridge', u);
  return row && bridgeOf(view, row);
}

/** Every bridge in OVS. */
export function readBridges(view: OvsdbView): BridgeInfo[] {
  return [...view.rows('Bridge').values()].map((row) => bridgeOf(view, row));
}

/** Names of the bridges whose external_ids mark them as ovsvlan's. */
export function readOwnedBridgeNames(view: OvsdbView): string[] {
  return [...view.rows('Bridge').values()].filter(isOurs).map((r) => String(r['name']));
}

/** The port (and its interface of the same name) as OVS has it, or undefined. */
export function readPort(view: OvsdbView, name: string): PortInfo | undefined {
  const u = view.uuidByName('Port', name);
  const row = u === undefined ? undefined : view.row('Port', u);
  return row && u !== undefined ? portOf(view, row, holderOf(view, u)) : undefined;
}

/** Every port whose external_ids mark it as ovsvlan's (all ports with `all`). */
export function readPorts(view: OvsdbView, all = false): PortInfo[] {
  const held = holders(view);
  return [...view.rows('Port').values()]
    .filter((r) => all || isOurs(r))
    .map((r) => portOf(view, r, held.get(uuidOf(r['_uuid']))));
}

/** The Port row of that name with its holder, for a transaction that changes it (and guards on its marks). */
export function findPort(view: OvsdbView, name: string): FoundPort | undefined {
  const u = view.uuidByName('Port', name);
  const row = u === undefined ? undefined : view.row('Port', u);
  if (!row || u === undefined) return undefined;
  return { uuid: ['uuid', u], externalIds: fromOvsMap(row['external_ids']), bridge: holderOf(view, u) };
}

const isOurs = (row: Readonly<Row>): boolean => fromOvsMap(row['external_ids'])[OWNER_KEY] === OWNER_VALUE;

/**
 * Bridge row → the UUIDs of its ports. The cache replaces a row on each
 * update and never changes one in place, so each row's set is built once:
 * a lookup costs one probe per bridge, not a walk over every port.
 */
const portSets = new WeakMap<Readonly<Row>, ReadonlySet<string>>();

function portsOf(bridge: Readonly<Row>): ReadonlySet<string> {
  let set = portSets.get(bridge);
  if (!set) portSets.set(bridge, (set = new Set(fromOvsSet<Uuid>(bridge['ports']).map(uuidOf))));
  return set;
}

/** The name of the bridge that holds the port, or undefined. */
function holderOf(view: OvsdbView, portUuid: string): string | undefined {
  for (const b of view.rows('Bridge').values()) if (portsOf(b).has(portUuid)) return String(b['name']);
  return undefined;
}

/** Port UUID → name of the bridge that holds it. */
function holders(view: OvsdbView): Map<string, string> {
  const out = new Map<string, string>();
  for (const b of view.rows('Bridge').values()) for (const p of portsOf(b)) out.set(p, String(b['name']));
  return out;
}

function bridgeOf(view: OvsdbView, row: Readonly<Row>): BridgeInfo {
  return {
    name: String(row['name']),
    datapath: asDatapath(row['datapath_type']),
    ours: isOurs(row),
    portNames: fromOvsSet<Uuid>(row['ports']).map((u) => String(view.row('Port', u)?.['name'] ?? '?')),
  };
}

function portOf(view: OvsdbView, row: Readonly<Row>, bridge: string | undefined): PortInfo {
  const name = String(row['name']);
  const ifaceUuid = view.uuidByName('Interface', name);
  const iface = ifaceUuid === undefined ? undefined : view.row('Interface', ifaceUuid);
  return {
    name,
    bridge,
    tag: fromOvsSet<number>(row['tag'])[0],
    trunks: fromOvsSet<number>(row['trunks']),
    vlanMode: fromOvsSet<string>(row['vlan_mode'])[0],
    protected: row['protected'] === true,
    externalIds: fromOvsMap(row['external_ids']),
    type: String(iface?.['type'] ?? ''),
    options: fromOvsMap(iface?.['options']),
    mtu: fromOvsSet<number>(iface?.['mtu'])[0],
    error: fromOvsSet<string>(iface?.['error'])[0],
  };
}
