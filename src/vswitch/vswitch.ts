// ovsvlan's intent over OVSDB: bridges and tagged access ports. Each change is
// one transaction that waits until ovs-vswitchd has applied it. Only rows
// marked with ovsvlan's external_ids are ever deleted.
import type { OvsdbClient } from '../ovsdb/client.js';
import { insert, mutate, select, update, type Operation } from '../ovsdb/ops.js';
import { fromOvsMap, fromOvsSet, namedUuid, ovsMap, ovsSet, uuidOf, type Row, type Uuid } from '../ovsdb/notation.js';
import { ConflictError, NotFoundError, OvsvlanError } from '../errors.js';
import { bridgeExternalIds, OWNER_KEY, OWNER_VALUE } from '../names.js';

export type DatapathType = 'system' | 'netdev';

export interface BridgeInfo {
  name: string;
  datapath: DatapathType;
  /** Created by ovsvlan (external_ids ovsvlan-owner=ovsvlan). */
  ours: boolean;
  portNames: string[];
}

export interface PortInfo {
  name: string;
  bridge: string | undefined;
  tag: number | undefined;
  externalIds: Record<string, string>;
}

/** What reconciliation compares with what a network wants. */
export interface PortState {
  bridge: string | undefined;
  tag: number | undefined;
  trunks: number[];
  vlanMode: string | undefined;
  protected: boolean;
  externalIds: Record<string, string>;
  /** the interface's type ('' for a system interface) and options */
  type: string;
  options: Record<string, string>;
}

export interface AccessPort {
  bridge: string;
  name: string;
  /** undefined: an untagged port (overlay bridges) */
  tag: number | undefined;
  externalIds: Record<string, string>;
}

export interface TunnelPort {
  bridge: string;
  name: string;
  type: 'vxlan' | 'gre';
  remote: string;
  key: number;
  externalIds: Record<string, string>;
}

export interface UplinkPort {
  bridge: string;
  name: string;
  trunks: number[];
  nativeVlan: number | undefined;
  externalIds: Record<string, string>;
}

export interface HostPort {
  bridge: string;
  name: string;
  tag: number | undefined;
  mtu: number;
  externalIds: Record<string, string>;
}

/** The subset of the OVSDB client this module needs. */
export type Transactor = Pick<OvsdbClient, 'transact' | 'transactAndWait'>;

export class Vswitch {
  readonly #db: Transactor;
  constructor(db: Transactor) {
    this.#db = db;
  }

  async getBridge(name: string): Promise<BridgeInfo | undefined> {
    return this.#bridge(name, true);
  }

  /** The bridge row; port names are looked up only when asked for (they need a scan of the Port table). */
  async #bridge(name: string, withPorts: boolean): Promise<BridgeInfo | undefined> {
    const [bridges, ports] = await this.#db.transact([
      select('Bridge', [['name', '==', name]], ['name', 'datapath_type', 'external_ids', 'ports']),
      ...(withPorts ? [select('Port', [], ['_uuid', 'name'])] : []),
    ]);
    const row = bridges?.rows?.[0];
    if (!row) return undefined;
    const names = portNamesByUuid(ports?.rows ?? []);
    return {
      name,
      datapath: row['datapath_type'] === 'netdev' ? 'netdev' : 'system',
      ours: fromOvsMap(row['external_ids'])[OWNER_KEY] === OWNER_VALUE,
      portNames: withPorts ? fromOvsSet<Uuid>(row['ports']).map((u) => names.get(uuidOf(u)) ?? '?') : [],
    };
  }

  /** Creates the bridge (marked as ours) with its internal port, unless it exists (then `portNames` is not filled). */
  async ensureBridge(name: string, datapath: DatapathType): Promise<{ bridge: BridgeInfo; created: boolean }> {
    const existing = await this.#bridge(name, false);
    if (existing) return { bridge: existing, created: false };
    const results = await this.#db.transactAndWait([
      insert('Interface', { name, type: 'internal' }, 'iface'),
      insert('Port', { name, interfaces: namedUuid('iface') }, 'port'),
      insert('Bridge', { name, ports: namedUuid('port'), datapath_type: datapath, external_ids: ovsMap(bridgeExternalIds()) }, 'bridge'),
      mutate('Open_vSwitch', [], [['bridges', 'insert', ovsSet([namedUuid('bridge')])]]),
    ]);
    if (results[3]?.count !== 1) {
      throw new OvsvlanError('OVSVLAN_ERR_CONFLICT', 'the OVS database has no Open_vSwitch row: initialise it with "ovs-vsctl init"');
    }
    return { bridge: { name, datapath, ours: true, portNames: [name] }, created: true };
  }

  /** Deletes a bridge ovsvlan created; refuses one it did not, or one with ports besides its own. */
  async deleteBridge(name: string): Promise<boolean> {
    const b = await this.getBridge(name);
    if (!b) return false;
    if (!b.ours) throw new ConflictError(`bridge ${name} was not created by ovsvlan; leaving it alone`);
    const others = b.portNames.filter((p) => p !== name);
    if (others.length > 0) throw new ConflictError(`bridge ${name} still has ports: ${others.join(', ')}`);
    const [found] = await this.#db.transact([select('Bridge', [['name', '==', name]], ['_uuid'])]);
    const u = found?.rows?.[0]?.['_uuid'];
    if (!u) return false;
    await this.#db.transactAndWait([mutate('Open_vSwitch', [], [['bridges', 'delete', ovsSet([u as Uuid])]])]);
    return true;
  }

  /** Adds (or replaces) an access port, tagged with the VLAN unless `tag` is undefined; one transaction. */
  attachPort(p: AccessPort): Promise<void> {
    return this.#putPort(p.bridge, p.name, { external_ids: ovsMap(p.externalIds) }, {
      ...(p.tag === undefined ? {} : { tag: p.tag }), external_ids: ovsMap(p.externalIds),
    });
  }

  /** A native OVS tunnel port to one remote; `protected` so that tunnels never forward to each other (split horizon). */
  attachTunnel(p: TunnelPort): Promise<void> {
    return this.#putPort(p.bridge, p.name, {
      type: p.type,
      options: ovsMap({ remote_ip: p.remote, key: String(p.key) }),
      external_ids: ovsMap(p.externalIds),
    }, { protected: true, external_ids: ovsMap(p.externalIds) });
  }

  /** An existing interface as an 802.1Q trunk carrying `trunks`, with an optional native (untagged) VLAN. */
  attachUplink(p: UplinkPort): Promise<void> {
    const port: Row = { trunks: ovsSet(p.trunks), external_ids: ovsMap(p.externalIds) };
    if (p.nativeVlan !== undefined) Object.assign(port, { tag: p.nativeVlan, vlan_mode: 'native-untagged' });
    return this.#putPort(p.bridge, p.name, { external_ids: ovsMap(p.externalIds) }, port);
  }

  /** An internal port: a network interface for the host itself on the bridge (and VLAN). */
  attachHostPort(p: HostPort): Promise<void> {
    return this.#putPort(p.bridge, p.name, { type: 'internal', mtu_request: p.mtu, external_ids: ovsMap(p.externalIds) }, {
      ...(p.tag === undefined ? {} : { tag: p.tag }), external_ids: ovsMap(p.externalIds),
    });
  }

  /** The port (and its interface of the same name) as OVS has it, or undefined. */
  async getPort(name: string): Promise<PortState | undefined> {
    const [ports, ifaces, bridges] = await this.#db.transact([
      select('Port', [['name', '==', name]], ['_uuid', 'tag', 'trunks', 'vlan_mode', 'protected', 'external_ids']),
      select('Interface', [['name', '==', name]], ['type', 'options']),
      select('Bridge', [], ['name', 'ports']),
    ]);
    const row = ports?.rows?.[0];
    if (!row) return undefined;
    const u = uuidOf(row['_uuid'] as Uuid);
    const bridge = (bridges?.rows ?? []).find((b) => fromOvsSet<Uuid>(b['ports']).some((x) => uuidOf(x) === u));
    const iface = ifaces?.rows?.[0];
    return {
      bridge: bridge ? String(bridge['name']) : undefined,
      tag: fromOvsSet<number>(row['tag'])[0],
      trunks: fromOvsSet<number>(row['trunks']),
      vlanMode: fromOvsSet<string>(row['vlan_mode'])[0],
      protected: row['protected'] === true,
      externalIds: fromOvsMap(row['external_ids']),
      type: String(iface?.['type'] ?? ''),
      options: fromOvsMap(iface?.['options']),
    };
  }

  /** Inserts Interface + Port and links the Port to the bridge, replacing a port of that name: one transaction. */
  async #putPort(bridgeName: string, name: string, iface: Row, port: Row): Promise<void> {
    const [bridges, ports] = await this.#db.transact([
      select('Bridge', [['name', '==', bridgeName]], ['_uuid']),
      select('Port', [['name', '==', name]], ['_uuid']),
    ]);
    if (!bridges?.rows?.[0]) throw new NotFoundError(`OVS bridge ${bridgeName} does not exist`);
    const portUuid = ports?.rows?.[0]?.['_uuid'] as Uuid | undefined;
    const ops: Operation[] = [];
    if (portUuid) {
      // A retried call, a repair, or a port left on another bridge: detach it first, then add it fresh.
      ops.push(mutate('Bridge', [['ports', 'includes', portUuid]], [['ports', 'delete', ovsSet([portUuid])]]));
    }
    ops.push(
      insert('Interface', { name, ...iface }, 'iface'),
      insert('Port', { name, interfaces: namedUuid('iface'), ...port }, 'port'),
      mutate('Bridge', [['name', '==', bridgeName]], [['ports', 'insert', ovsSet([namedUuid('port')])]]),
    );
    await this.#db.transactAndWait(ops);
  }

  /** Removes a port from whatever bridge holds it; false when there was none. */
  async detachPort(name: string): Promise<boolean> {
    const [ports] = await this.#db.transact([select('Port', [['name', '==', name]], ['_uuid'])]);
    const u = ports?.rows?.[0]?.['_uuid'] as Uuid | undefined;
    if (!u) return false;
    // Port and Interface are not root tables: dropping the reference deletes them.
    await this.#db.transactAndWait([mutate('Bridge', [['ports', 'includes', u]], [['ports', 'delete', ovsSet([u])]])]);
    return true;
  }

  /** Names of the bridges whose external_ids mark them as ovsvlan's. */
  async listOwnedBridges(): Promise<string[]> {
    const [bridges] = await this.#db.transact([
      select('Bridge', [['external_ids', 'includes', ovsMap({ [OWNER_KEY]: OWNER_VALUE })]], ['name']),
    ]);
    return (bridges?.rows ?? []).map((r) => String(r['name']));
  }

  /** Every port whose external_ids mark it as ovsvlan's. */
  async listOwnedPorts(): Promise<PortInfo[]> {
    const [ports, bridges] = await this.#db.transact([
      select('Port', [['external_ids', 'includes', ovsMap({ [OWNER_KEY]: OWNER_VALUE })]], ['_uuid', 'name', 'tag', 'external_ids']),
      select('Bridge', [], ['name', 'ports']),
    ]);
    const bridgeOf = new Map<string, string>();
    for (const b of bridges?.rows ?? []) {
      for (const u of fromOvsSet<Uuid>(b['ports'])) bridgeOf.set(uuidOf(u), String(b['name']));
    }
    return (ports?.rows ?? []).map((r) => ({
      name: String(r['name']),
      bridge: bridgeOf.get(uuidOf(r['_uuid'] as Uuid)),
      tag: fromOvsSet<number>(r['tag'])[0],
      externalIds: fromOvsMap(r['external_ids']),
    }));
  }

  /**
   * Takes over the VLAN list of an uplink the operator attached by hand: it
   * carries `trunks`, and remembers `baseTrunks` (its own) in external_ids.
   */
  async adoptUplink(name: string, trunks: number[], marks: Record<string, string>): Promise<void> {
    await this.#db.transactAndWait([
      update('Port', [['name', '==', name]], { trunks: ovsSet(trunks) }),
      mutate('Port', [['name', '==', name]], [['external_ids', 'insert', ovsMap(marks)]]),
    ]);
  }

  /** Gives an adopted uplink back: its own VLAN list, and no marks of ovsvlan. */
  async releaseUplink(name: string, baseTrunks: number[], markKeys: string[]): Promise<void> {
    await this.#db.transactAndWait([
      update('Port', [['name', '==', name]], { trunks: ovsSet(baseTrunks) }),
      mutate('Port', [['name', '==', name]], [['external_ids', 'delete', ovsSet(markKeys)]]),
    ]);
  }

  /** Updates an uplink's VLAN list in place: the trunk keeps forwarding the others meanwhile. */
  async setTrunks(name: string, trunks: number[]): Promise<void> {
    await this.#db.transactAndWait([update('Port', [['name', '==', name]], { trunks: ovsSet(trunks) })]);
  }
}

function portNamesByUuid(rows: Row[]): Map<string, string> {
  return new Map(rows.map((r) => [uuidOf(r['_uuid'] as Uuid), String(r['name'])]));
}
