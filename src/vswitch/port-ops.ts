// The OVSDB operations of Vswitch's port changes (pure): what inserts a port,
// what removes one, each guarded by the marks of the port found in the cache,
// so that a batch (attachPorts, detachPorts, syncTunnels) is one transaction.
import { insert, mutate, wait, type Operation } from '../ovsdb/ops.js';
import { fromOvsMap, namedUuid, ovsMap, ovsSet, type NamedUuid, type Row, type Uuid } from '../ovsdb/notation.js';
import { ConflictError } from '../errors.js';
import { describeOwner, hasMarks } from '../names.js';
import type { FoundPort } from './reads.js';
import type { TunnelPort } from './types.js';

/** A port to remove, if its external_ids carry `marks`. */
export interface MarkedPort {
  name: string;
  marks: Readonly<Record<string, string>>;
}

/** An access, tunnel, uplink or host port to insert: its Interface and Port columns. */
export interface NewPort {
  bridge: string;
  name: string;
  iface: Row;
  port: Row;
}

/** A tunnel port's Interface and Port columns. */
export function tunnelPort(p: TunnelPort): NewPort {
  return { bridge: p.bridge, name: p.name, iface: {
    type: p.type,
    options: ovsMap({ remote_ip: p.remote, key: String(p.key) }),
    external_ids: ovsMap(p.externalIds),
  }, port: { protected: true, external_ids: ovsMap(p.externalIds) } };
}

/**
 * The operations that insert each Interface + Port and link the Port to its bridge (`found`: the
 * ports of those names as the cache has them). A port of that name is replaced (a retried call, a
 * repair) only when it is on this bridge and carries the new port's marks; any other is refused
 * with a ConflictError, and never taken off another bridge or from its owner.
 */
export function putOps(items: readonly NewPort[], found: ReadonlyMap<string, FoundPort>): Operation[] {
  const ops: Operation[] = [];
  const added = new Map<string, NamedUuid[]>(items.map((i) => [i.bridge, []]));
  items.forEach((item, i) => {
    const { bridge: bridgeName, name } = item;
    const marks = fromOvsMap(item.port['external_ids']);
    const held = found.get(name);
    if (held) {
      if (held.bridge !== bridgeName) {
        throw new ConflictError(`OVS port ${name} is on bridge ${held.bridge ?? '(none)'} (${describeOwner(held.externalIds)}); ` +
          `ovsvlan never takes a port off another bridge: remove it there, or free the name`);
      }
      if (!hasMarks(held.externalIds, marks)) {
        throw new ConflictError(`OVS port ${name} on bridge ${bridgeName} belongs to ${describeOwner(held.externalIds)}, ` +
          `not to ${describeOwner(marks)}; ovsvlan does not share or take over a port`);
      }
      ops.push(unchanged(held), mutate('Bridge', [['name', '==', bridgeName]], [['ports', 'delete', ovsSet([held.uuid])]]));
    }
    // unique port names: a port of that name made meanwhile fails the whole transaction
    ops.push(
      insert('Interface', { name, ...item.iface }, `iface${i}`),
      insert('Port', { name, interfaces: namedUuid(`iface${i}`), ...item.port }, `port${i}`),
    );
    added.get(bridgeName)?.push(namedUuid(`port${i}`));
  });
  for (const [b, refs] of added) ops.push(mutate('Bridge', [['name', '==', b]], [['ports', 'insert', ovsSet(refs)]]));
  return ops;
}

/**
 * The operations that remove each named port whose external_ids carry its marks (`found`: as the
 * cache has them; the others are left alone): first one guard per port (`guards` of them, see
 * failedGuard), then the bridges' mutations. `names`: the ports they remove.
 */
export function detachOps(ports: readonly MarkedPort[], found: ReadonlyMap<string, FoundPort>):
  { ops: Operation[]; names: string[]; guards: number } {
  const gone = ports.flatMap((p) => {
    const f = found.get(p.name);
    return f?.bridge !== undefined && hasMarks(f.externalIds, p.marks) ? [{ name: p.name, found: f, bridge: f.bridge }] : [];
  });
  // Port and Interface are not root tables: dropping the reference deletes them.
  const byBridge = new Map<string, Uuid[]>();
  for (const g of gone) {
    let uuids = byBridge.get(g.bridge);
    if (!uuids) byBridge.set(g.bridge, (uuids = []));
    uuids.push(g.found.uuid);
  }
  const ops: Operation[] = [
    ...gone.map((g) => unchanged(g.found)),
    ...[...byBridge].map(([b, uuids]) => mutate('Bridge', [['name', '==', b]], [['ports', 'delete', ovsSet(uuids)]])),
  ];
  return { ops, names: gone.map((g) => g.name), guards: gone.length };
}

/** Precondition of a transaction: the port found is still there with the same marks. */
function unchanged(found: FoundPort): Operation {
  return wait('Port', [['_uuid', '==', found.uuid]], ['external_ids'], '==', [{ external_ids: ovsMap(found.externalIds) }], 0);
}
