// ovsvlan's intent over OVSDB: bridges and tagged access ports. Reads come
// from the OVSDB client's cache (reads.ts); each change is one transaction,
// most of which wait until ovs-vswitchd has applied them. A port is replaced
// or deleted only when its external_ids carry the marks of whom the caller
// acts for, checked again inside the transaction that changes it: the cache
// serves reads, the database stays the judge of writes.
import type { OvsdbClient } from '../ovsdb/client.js';
import { insert, mutate, update, wait, type Operation } from '../ovsdb/ops.js';
import { namedUuid, ovsMap, ovsSet, type Row } from '../ovsdb/notation.js';
import { OvsdbError } from '../ovsdb/errors.js';
import { ConflictError, NotFoundError, OvsvlanError } from '../errors.js';
import { bridgeExternalIds, describeOwner, hasMarks } from '../names.js';
import { findPort, readBridge, readOwnedBridgeNames, readPort, readPorts, type FoundPort } from './reads.js';
import { detachOps, putOps, tunnelPort, type MarkedPort, type NewPort } from './port-ops.js';
import type { AccessPort, BridgeInfo, DatapathType, HostPort, PortInfo, TunnelPort, UplinkPort } from './types.js';

export type { AccessPort, BridgeInfo, DatapathType, HostPort, PortInfo, TunnelPort, UplinkPort } from './types.js';

/** The subset of the OVSDB client this module needs: its cache for reads, transactions for changes. */
export type Transactor = Pick<OvsdbClient, 'view' | 'transact' | 'transactAndWait'>;

export class Vswitch {
  readonly #db: Transactor;
  constructor(db: Transactor) {
    this.#db = db;
  }

  /** The bridge with the names of its ports, or undefined. */
  async getBridge(name: string): Promise<BridgeInfo | undefined> {
    return readBridge(await this.#db.view(), name);
  }

  /** Creates the bridge (marked as ours) with its internal port, unless it exists. */
  async ensureBridge(name: string, datapath: DatapathType): Promise<{ bridge: BridgeInfo; created: boolean }> {
    const existing = await this.getBridge(name);
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
    const u = (await this.#db.view()).uuidByName('Bridge', name);
    if (u === undefined) return false;
    await this.#db.transactAndWait([mutate('Open_vSwitch', [], [['bridges', 'delete', ovsSet([['uuid', u]])]])]);
    return true;
  }

  /** Adds (or replaces) an access port, tagged with the VLAN unless `tag` is undefined; one transaction. */
  attachPort(p: AccessPort): Promise<void> {
    return this.attachPorts([p]);
  }

  /**
   * Adds (or replaces) many access ports in ONE transaction that waits for ovs-vswitchd: one
   * reconfiguration for all of them (the background refill of spare ports). Each follows attachPort's
   * rules; one port refused (ConflictError, NotFoundError for a missing bridge) refuses them all.
   */
  async attachPorts(ports: readonly AccessPort[]): Promise<void> {
    await this.#putPorts(ports.map((p) => ({
      bridge: p.bridge,
      name: p.name,
      iface: { external_ids: ovsMap(p.externalIds) },
      port: { ...(p.tag === undefined ? {} : { tag: p.tag }), external_ids: ovsMap(p.externalIds) },
    })));
  }

  /** A native OVS tunnel port to one remote; `protected` so that tunnels never forward to each other (split horizon). */
  attachTunnel(p: TunnelPort): Promise<void> {
    return this.#putPorts([tunnelPort(p)]);
  }

  /**
   * The cluster mesh's change to one bridge (cluster/mesh.ts), in ONE transaction that waits for
   * ovs-vswitchd: adds to `bridge` (or replaces, by attachTunnel's rules) the tunnels of `add`, and
   * removes each port of `remove` that carries its marks (detachPorts' rules: another's is left
   * alone). A refused port (ConflictError) refuses the whole change; when a port to remove changed
   * its marks meanwhile, the ports are looked up again and the change retried.
   */
  async syncTunnels(bridge: string, add: readonly TunnelPort[], remove: readonly MarkedPort[]): Promise<void> {
    if (add.length === 0 && remove.length === 0) return;
    const items = add.map((p) => tunnelPort({ ...p, bridge }));
    for (let attempt = 1; ; attempt++) {
      const { found, missingBridges } = await this.#lookup([...items.map((i) => i.name), ...remove.map((r) => r.name)], [bridge]);
      if (missingBridges.length > 0) throw new NotFoundError(`OVS bridge ${bridge} does not exist`);
      const removal = detachOps(remove, found);
      try {
        await this.#db.transactAndWait([...removal.ops, ...putOps(items, found)]);
        return;
      } catch (err) {
        if (!(attempt < GUARD_RETRIES && failedGuard(err, removal.guards))) throw err;
      }
    }
  }

  /** An existing interface as an 802.1Q trunk carrying `trunks`, with an optional native (untagged) VLAN. */
  attachUplink(p: UplinkPort): Promise<void> {
    const port: Row = { trunks: ovsSet(p.trunks), external_ids: ovsMap(p.externalIds) };
    if (p.nativeVlan !== undefined) Object.assign(port, { tag: p.nativeVlan, vlan_mode: 'native-untagged' });
    return this.#putPorts([{ bridge: p.bridge, name: p.name, iface: { external_ids: ovsMap(p.externalIds) }, port }]);
  }

  /** An internal port: a network interface for the host itself on the bridge (and VLAN). */
  attachHostPort(p: HostPort): Promise<void> {
    return this.#putPorts([{ bridge: p.bridge, name: p.name,
      iface: { type: 'internal', mtu_request: p.mtu, external_ids: ovsMap(p.externalIds) },
      port: { ...(p.tag === undefined ? {} : { tag: p.tag }), external_ids: ovsMap(p.externalIds) } }]);
  }

  /** The port (and its interface of the same name) as OVS has it, or undefined. */
  async getPort(name: string): Promise<PortInfo | undefined> {
    return readPort(await this.#db.view(), name);
  }

  /** Inserts each Interface + Port and links the Port to its bridge: one transaction for all (port-ops.ts putOps' rules). */
  async #putPorts(items: readonly NewPort[]): Promise<void> {
    if (items.length === 0) return;
    const bridges = [...new Set(items.map((i) => i.bridge))];
    const { found, missingBridges } = await this.#lookup(items.map((i) => i.name), bridges);
    if (missingBridges.length > 0) throw new NotFoundError(`OVS bridge ${missingBridges.join(', ')} does not exist`);
    await this.#db.transactAndWait(putOps(items, found));
  }

  /**
   * Removes the port from its bridge if its external_ids carry `marks`; false
   * when there is none, or it is another's (left alone). `wait: false` does not
   * wait for ovs-vswitchd (a rollback, when it may be the very thing that hangs).
   */
  async detachPort(name: string, marks: Readonly<Record<string, string>>, opts: { wait: boolean } = { wait: true }): Promise<boolean> {
    return (await this.detachPorts([{ name, marks }], opts)).length > 0;
  }

  /**
   * Removes, in ONE transaction, each named port whose external_ids carry its marks (the others are
   * left alone); returns the names removed. A port whose marks change meanwhile makes the transaction
   * fail its guard: the ports are then looked up again and the transaction retried.
   */
  async detachPorts(ports: readonly MarkedPort[], opts: { wait: boolean }): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      const { found } = await this.#lookup(ports.map((p) => p.name), []);
      const { ops, names, guards } = detachOps(ports, found);
      if (names.length === 0) return [];
      try {
        await (opts.wait ? this.#db.transactAndWait(ops) : this.#db.transact(ops));
        return names;
      } catch (err) {
        if (!(attempt < GUARD_RETRIES && failedGuard(err, guards))) throw err;
      }
    }
  }

  /**
   * Replaces a port's marks: the keys of `from` are removed and `to` inserted, in one transaction
   * guarded by the port still carrying `from`. It does not wait for ovs-vswitchd (external_ids do not
   * make it reconfigure). ConflictError (naming the port and its owner) when the port does not carry
   * `from`; NotFoundError when there is no such port. Used to hand a spare port to an endpoint.
   */
  async remarkPort(name: string, from: Readonly<Record<string, string>>, to: Readonly<Record<string, string>>): Promise<void> {
    const found = (await this.#lookup([name], [])).found.get(name);
    if (!found) throw new NotFoundError(`OVS port ${name} does not exist`);
    const refuse = (owner: Readonly<Record<string, string>>): ConflictError => new ConflictError(
      `OVS port ${name} belongs to ${describeOwner(owner)}, not to ${describeOwner(from)}; its marks were left as they are`);
    if (!hasMarks(found.externalIds, from)) throw refuse(found.externalIds);
    const ops: Operation[] = [
      // abort unless the port still carries `from` (a row matching both conditions exists)
      wait('Port', [['_uuid', '==', found.uuid], ['external_ids', 'includes', ovsMap({ ...from })]], [], '!=', [], 0),
      // a map "insert" keeps a key that is there already: drop the keys of `to` too
      mutate('Port', [['_uuid', '==', found.uuid]], [['external_ids', 'delete', ovsSet([...new Set([...Object.keys(from), ...Object.keys(to)])])]]),
      mutate('Port', [['_uuid', '==', found.uuid]], [['external_ids', 'insert', ovsMap({ ...to })]]),
    ];
    try {
      await this.#db.transact(ops);
    } catch (err) {
      if (!failedGuard(err, 1)) throw err;
      const now = (await this.#lookup([name], [])).found.get(name);
      if (!now) throw new NotFoundError(`OVS port ${name} does not exist`);
      throw refuse(now.externalIds);
    }
  }

  /** Port rows by name (with the bridge that holds each), and which of `bridges` do not exist. */
  async #lookup(names: readonly string[], bridges: readonly string[]): Promise<{ found: Map<string, FoundPort>; missingBridges: string[] }> {
    const view = await this.#db.view();
    const found = new Map<string, FoundPort>();
    for (const n of names) {
      const f = findPort(view, n);
      if (f) found.set(n, f);
    }
    return { found, missingBridges: bridges.filter((b) => view.uuidByName('Bridge', b) === undefined) };
  }

  /** Names of the bridges whose external_ids mark them as ovsvlan's. */
  async listOwnedBridges(): Promise<string[]> {
    return readOwnedBridgeNames(await this.#db.view());
  }

  /** Every port whose external_ids mark it as ovsvlan's. */
  async listOwnedPorts(): Promise<PortInfo[]> {
    return readPorts(await this.#db.view());
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

/** How often a batch whose guard failed (a port changed meanwhile) is looked up and tried again. */
const GUARD_RETRIES = 3;

/** Whether `err` is a transaction refused by one of its first `guards` operations (the `wait`s). */
function failedGuard(err: unknown, guards: number): boolean {
  return err instanceof OvsdbError && err.code === 'timed out' && err.opIndex !== undefined && err.opIndex < guards;
}
